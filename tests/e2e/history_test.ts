/**
 * Catching up (issue 9, item 7): `schied history PEER` prints what was missed and exits,
 * `listen --since DURATION` starts from a time, `--exec` gets SCHIED_FROM_LABEL and its output
 * goes to stderr, and GET /messages?order=desc is newest first.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { waitFor } from "../harness.ts";
import { cli, spawnCli, startPair } from "../daemon_harness.ts";

Deno.test("cli: history prints the conversation and exits; listen --since 10m replays it; --exec output on stderr", async () => {
  const { a, b, done } = await startPair();
  try {
    for (const t of ["one", "two", "three"]) {
      assertEquals((await cli(["send", b.id, t, "--wait", "--state-dir", a.stateDir])).code, 0);
    }
    assertEquals((await cli(["send", a.id, "back", "--wait", "--state-dir", b.stateDir])).code, 0);

    const h = await cli(["history", a.id, "--state-dir", b.stateDir]);
    assertEquals(h.code, 0, h.stderr);
    const lines = h.stdout.trimEnd().split("\n");
    assertEquals(lines.map((l) => l.replace(/^\S+ /, "")), [
      `${a.id.slice(0, 8)}: one`,
      `${a.id.slice(0, 8)}: two`,
      `${a.id.slice(0, 8)}: three`,
      "me: back ✓✓",
    ]);
    assertOk(/^\d\d:\d\d:\d\d /.test(lines[0]!), `today: the time only: ${lines[0]}`);

    const last2 = await cli(["history", a.id, "--limit", "2", "--json", "--state-dir", b.stateDir]);
    assertEquals(last2.code, 0, last2.stderr);
    const recs = last2.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    assertEquals(recs.map((r) => [r.direction, r.text]), [["in", "three"], ["out", "back"]]);

    const recent = await cli(["history", a.id, "--since", "1h", "--state-dir", b.stateDir]);
    assertEquals(recent.stdout.trimEnd().split("\n").length, 4);
    const after = await cli([
      "history",
      a.id,
      "--since",
      String(recs[0].event_id),
      "--state-dir",
      b.stateDir,
    ]);
    assertEquals(after.stdout.trimEnd().split("\n").length, 1, after.stdout);

    const desc = await b.api.messages({ with: a.id, order: "desc", limit: 10 });
    assertEquals(desc.map((m) => m.text), ["back", "three", "two", "one"]);

    const unknown = await cli(["history", "nobody", "--state-dir", b.stateDir]);
    assertEquals(unknown.code, 4, unknown.stderr);
    const bad = await cli(["history", a.id, "--since", "-5", "--state-dir", b.stateDir]);
    assertEquals(bad.code, 2, bad.stderr);

    // listen from ten minutes ago: the three messages already received, each through --exec.
    const listen = spawnCli([
      "listen",
      "--since",
      "10m",
      "--state-dir",
      b.stateDir,
      "--exec",
      'echo "exec:$SCHIED_FROM_LABEL:$SCHIED_TEXT"',
    ], { stdin: "null" });
    const { out, err } = listen;
    try {
      await waitFor(
        () => err.filter((l) => l.startsWith("exec:")).length >= 3,
        "three --exec runs",
      );
      assertEquals(
        out.map((l) => l.replace(/^\S+ /, "")),
        ["one", "two", "three"].map((t) => `${a.id.slice(0, 8)}: ${t}`),
      );
      assertEquals(
        err.filter((l) => l.startsWith("exec:")),
        ["one", "two", "three"].map((t) => `exec:${a.id.slice(0, 8)}:${t}`),
      );
    } finally {
      await listen.stop();
    }
  } finally {
    await done();
  }
});
