/**
 * `schied send --wait [--timeout S]` (issue 9, item 6): returns once the message is delivered,
 * exits 5 when it is not within the timeout (the message stays queued), and a usage error for
 * `--timeout` without `--wait`.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { cli, startPair } from "../daemon_harness.ts";

Deno.test("cli: send --wait returns 0 once delivered, 5 on timeout with the message still queued", async () => {
  const { a, b, done } = await startPair();
  try {
    const ok = await cli([
      "send",
      b.id,
      "--wait",
      "--timeout",
      "20",
      "hi",
      "--state-dir",
      a.stateDir,
    ]);
    assertEquals(ok.code, 0, ok.stderr);
    const id = ok.stdout.trim();
    assertEquals((await a.api.message(id)).status, "delivered", "delivered when send returned");

    // Several lines from stdin: each is waited for.
    const many = await cli(["send", b.id, "--wait", "--state-dir", a.stateDir], {
      stdin: "one\ntwo\nthree\n",
    });
    assertEquals(many.code, 0, many.stderr);
    const ids = many.stdout.trim().split("\n");
    assertEquals(ids.length, 3);
    for (const i of ids) assertEquals((await a.api.message(i)).status, "delivered");

    assertEquals(await b.stop(), 0);
    const late = await cli([
      "send",
      b.id,
      "--wait",
      "--timeout",
      "1",
      "later",
      "--state-dir",
      a.stateDir,
    ]);
    assertEquals(late.code, 5, late.stderr);
    assertOk(late.stderr.includes("not delivered within 1 s"), late.stderr);
    assertOk(late.stderr.includes("schied: hint:"), late.stderr);
    const queued = (await a.api.message(late.stdout.trim())).status;
    assertOk(queued === "queued" || queued === "sent", `still on its way: ${queued}`);

    const bad = await cli(["send", b.id, "--timeout", "3", "x", "--state-dir", a.stateDir]);
    assertEquals(bad.code, 2, bad.stderr);
    assertOk(bad.stderr.includes("--timeout goes with --wait"), bad.stderr);
  } finally {
    // b may be stopped already: its second stop fails, the others still stop.
    await done().catch(() => {});
  }
});
