import { assertEquals, assertOk } from "../_assert.ts";
import { waitFor } from "../harness.ts";
import { cli, spawnCli, startDaemonProcess, startPair, waitOnline } from "../daemon_harness.ts";

Deno.test("cli: schied listen --json prints one parseable JSON object per line, in order", async () => {
  const { a, b, done } = await startPair();
  const listen = spawnCli(["listen", "--json", "--since", "0", "--state-dir", b.stateDir]);
  try {
    const texts = ["one", "two \x1b[2J with escape", "three\nlines", 'quote " and \\'];
    for (const t of texts) {
      assertEquals((await cli(["send", b.id, t, "--state-dir", a.stateDir])).code, 0);
    }
    await waitFor(() => listen.out.length >= texts.length, "four lines from listen");
    const parsed = listen.out.map((l) => JSON.parse(l));
    assertEquals(parsed.map((p) => p.event), texts.map(() => "message"));
    assertEquals(parsed.map((p) => p.data.text), texts);
    assertOk(parsed.every((p, i) => i === 0 || p.id > parsed[i - 1].id), "event ids increase");
  } finally {
    await listen.stop();
    await done();
  }
});

Deno.test("cli: schied listen escapes control characters and --exec gets the message in env vars", async () => {
  const { a, b, done } = await startPair();
  const out = `${b.stateDir}/exec.log`;
  const listen = spawnCli([
    "listen",
    "--since",
    "0",
    "--state-dir",
    b.stateDir,
    "--exec",
    `printf '%s|%s\\n' "$SCHIED_FROM" "$SCHIED_TEXT" >> ${out}`,
  ]);
  try {
    assertEquals(
      (await cli(["send", b.id, "evil \x1b[31mred", "--state-dir", a.stateDir])).code,
      0,
    );
    await waitFor(() => listen.out.length >= 1, "a line from listen");
    assertOk(listen.out[0]!.endsWith(": evil \\x1b[31mred"), listen.out[0]);
    assertOk(!listen.out[0]!.includes("\x1b"), "no raw escape reaches the terminal");
    const log = await waitFor(() => Deno.readTextFile(out).catch(() => ""), "the --exec output");
    assertEquals(log, `${a.id}|evil \x1b[31mred\n`);
  } finally {
    await listen.stop();
    await done();
  }
});

Deno.test("cli: schied chat through a pipe: sends, shows delivery and incoming lines", async () => {
  const { a, b, done } = await startPair();
  assertEquals((await cli(["contacts", "add", a.id, "alice", "--state-dir", b.stateDir])).code, 0);
  const chat = spawnCli(["chat", "alice", "--state-dir", b.stateDir]);
  try {
    await waitFor(() => chat.out.some((l) => l.startsWith("chat with alice")), "the chat header");
    await chat.write("hello alice\n");
    await waitFor(() => chat.out.some((l) => l.includes("✓✓ delivered")), "the delivery mark");
    await waitFor(
      async () => (await a.api.messages({ with: b.id })).some((m) => m.text === "hello alice"),
      "A got it",
    );
    await a.api.send({ to: b.id, text: "hi bob" });
    await waitFor(() => chat.out.some((l) => / alice: hi bob$/.test(l)), "the incoming line");
    await chat.end();
    assertEquals((await chat.child.status).code, 0, chat.err.join("\n"));
    assertOk(chat.out.some((l) => / me: hello alice ·$/.test(l)));
  } finally {
    await done();
  }
});

Deno.test("cli: unknown recipient exits 4 with an error and a hint; a missing daemon exits 3", async () => {
  const { a, done } = await startPair();
  try {
    const r = await cli(["send", "nobody", "hi", "--state-dir", a.stateDir]);
    assertEquals(r.code, 4);
    assertOk(r.stderr.startsWith('schied: error: No contact named "nobody"'), r.stderr);
    assertOk(r.stderr.includes("schied: hint: "));
    const unregistered = "11111111-1111-8111-8111-111111111111";
    assertEquals((await cli(["send", unregistered, "hi", "--state-dir", a.stateDir])).code, 4);
  } finally {
    await done();
  }
  const empty = await Deno.makeTempDir();
  const r = await cli(["status", "--state-dir", empty]);
  assertEquals(r.code, 3);
  assertOk(r.stderr.includes("schied: error: "));
});

Deno.test("cli: schied listen survives a kill -9 of its daemon and prints every message once", async () => {
  const { a, b, done } = await startPair();
  const port = new URL(b.apiUrl).port;
  const listen = spawnCli(["listen", "--since", "0", "--state-dir", b.stateDir]);
  let b2: typeof b | undefined;
  try {
    assertEquals((await cli(["send", b.id, "before", "--state-dir", a.stateDir])).code, 0);
    await waitFor(() => listen.out.length >= 1, "the first line");
    b.kill("SIGKILL");
    await b.exited;
    // While B is down, A queues; B comes back on the same API port with a new token.
    assertEquals((await cli(["send", b.id, "during", "--state-dir", a.stateDir])).code, 0);
    b2 = await startDaemonProcess({ stateDir: b.stateDir, args: ["--api", `127.0.0.1:${port}`] });
    await waitOnline(b2);
    assertEquals((await cli(["send", b.id, "after", "--state-dir", a.stateDir])).code, 0);
    await waitFor(() => listen.out.length >= 3, "three lines", 20_000);
    assertEquals(listen.out.map((l) => l.replace(/^\S+ \S+: /, "")), ["before", "during", "after"]);
  } finally {
    await listen.stop();
    await b2?.stop();
    await done().catch(() => {}); // B's first process was killed on purpose
  }
});
