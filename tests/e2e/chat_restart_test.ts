/**
 * `schied chat` outlives its daemon: the daemon (a process this test started) is killed while
 * the chat is open, a line is typed, the daemon comes back on the same state dir and API port,
 * and the line is delivered exactly once. On a terminal (kill -9) and from a pipe (SIGTERM,
 * which also removes the daemon's api-address file).
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { SCHIED, waitFor } from "../harness.ts";
import {
  type DaemonProcess,
  spawnCli,
  startDaemonProcess,
  startPair,
  waitOnline,
} from "../daemon_harness.ts";
import { screenLines, spawnPty } from "./chat_pty_harness.ts";

/** Restarts `d` (stopped) on its state dir and API port. */
async function restart(d: DaemonProcess): Promise<DaemonProcess> {
  const port = new URL(d.apiUrl).port;
  const d2 = await startDaemonProcess({
    stateDir: d.stateDir,
    args: ["--api", `127.0.0.1:${port}`],
  });
  await waitOnline(d2);
  return d2;
}

/** The texts of `text` that `to` has from `from` (incoming) and `from` has to `to` (outgoing). */
async function copies(from: DaemonProcess, to: DaemonProcess, text: string, api = from.api) {
  const got = (await to.api.messages({ with: from.id, limit: 1000 }))
    .filter((m) => m.direction === "in" && m.text === text).length;
  const out = (await api.messages({ with: to.id, limit: 1000 }))
    .filter((m) => m.direction === "out" && m.text === text).length;
  return { got, out };
}

Deno.test("chat restart: kill -9 of the daemon while chat is open on a terminal; the line is delivered once", async () => {
  const { a, b, done } = await startPair();
  const chat = spawnPty(SCHIED, ["chat", b.id, "--state-dir", a.stateDir]);
  let a2: DaemonProcess | undefined;
  try {
    await chat.waitLine(/^type a message/, "the chat");
    a.kill("SIGKILL");
    await a.exited;
    await chat.type("typed while down\r");
    await chat.waitLine(/^schied: daemon unreachable.*waiting…/, "the waiting notice");
    await waitFor(() => screenLines(chat.raw()).at(-1) === "[1 unsent] > ", "the unsent count");
    a2 = await restart(a);
    await chat.waitLine(/^schied: reconnected$/, "the reconnect notice", 20_000);
    await chat.waitLine(/ me: typed while down ·$/, "the accepted line", 20_000);
    await chat.waitLine(/✓✓ delivered #1$/, "the delivery mark", 20_000);
    assertEquals(await copies(a, b, "typed while down", a2.api), { got: 1, out: 1 });
    // A line typed after the reconnect goes out as usual; incoming lines arrive again.
    await chat.type("after\r");
    await chat.waitLine(/✓✓ delivered #2$/, "the second delivery", 20_000);
    await b.api.send({ to: a.id, text: "welcome back" });
    await chat.waitLine(/: welcome back$/, "an incoming line after the restart");
    await chat.type("\x04");
    assertEquals(await chat.exited, 0, chat.raw());
    assertEquals(await copies(a, b, "typed while down", a2.api), { got: 1, out: 1 });
  } finally {
    await chat.stop();
    await a2?.stop();
    await done().catch(() => {}); // A's first process was killed on purpose
  }
});

Deno.test("chat restart: SIGTERM of the daemon with chat reading a pipe; the line waits, then goes once", async () => {
  const { a, b, done } = await startPair();
  const chat = spawnCli([
    "chat",
    b.id,
    "--history",
    "0",
    "--wait",
    "30",
    "--state-dir",
    a.stateDir,
  ]);
  const { child, out, err } = chat;
  let a2: DaemonProcess | undefined;
  try {
    await waitFor(() => out.some((l) => l.startsWith("type a message")), "the chat");
    assertEquals(await a.stop(), 0);
    await chat.write("piped while down\n");
    await waitFor(() => err.some((l) => /^schied: daemon unreachable/.test(l)), "the notice");
    a2 = await restart(a);
    await waitFor(() => err.includes("schied: reconnected"), "reconnected", 20_000);
    await chat.end();
    const status = await child.status;
    assertEquals(status.code, 0, err.join("\n"));
    assertOk(out.some((l) => / me: piped while down ·$/.test(l)), out.join("\n"));
    assertOk(out.some((l) => /✓✓ delivered #1$/.test(l)), out.join("\n"));
    assertOk(!err.some((l) => /Requires net access/.test(l)), err.join("\n"));
    assertEquals(await copies(a, b, "piped while down", a2.api), { got: 1, out: 1 });
  } finally {
    await chat.stop();
    await a2?.stop();
    await done().catch(() => {});
  }
});

Deno.test("chat restart: Ctrl-C with a line the daemon never took lists it and exits 130", async () => {
  const { a, b, done } = await startPair();
  const chat = spawnPty(SCHIED, ["chat", b.id, "--state-dir", a.stateDir]);
  try {
    await chat.waitLine(/^type a message/, "the chat");
    a.kill("SIGKILL");
    await a.exited;
    await chat.type("never taken\r");
    await chat.waitLine(/^schied: daemon unreachable/, "the waiting notice");
    await chat.type("\x03");
    assertEquals(await chat.exited, 130, chat.raw());
    const lines = screenLines(chat.raw());
    assertOk(
      lines.includes("schied: error: 1 line(s) were never taken by the daemon:"),
      lines.join("\n"),
    );
    assertOk(lines.includes("  never taken"), lines.join("\n"));
  } finally {
    await chat.stop();
    await done().catch(() => {});
  }
});

Deno.test("listen restart: says the daemon is unreachable, then reconnected, on stderr", async () => {
  const { a, b, done } = await startPair();
  const listen = spawnCli(["listen", "--since", "0", "--state-dir", a.stateDir], {
    stdin: "null",
  });
  const { out, err } = listen;
  let a2: DaemonProcess | undefined;
  try {
    await b.api.send({ to: a.id, text: "first" });
    await waitFor(() => out.some((l) => l.endsWith(": first")), "the first line");
    assertEquals(await a.stop(), 0);
    await waitFor(() => err.some((l) => /^schied: daemon unreachable/.test(l)), "the notice");
    a2 = await restart(a);
    await waitFor(() => err.includes("schied: reconnected"), "reconnected", 20_000);
    await b.api.send({ to: a.id, text: "second" });
    await waitFor(() => out.some((l) => l.endsWith(": second")), "the line after", 20_000);
    assertOk(!err.some((l) => /Requires net access/.test(l)), err.join("\n"));
    assertEquals(err.filter((l) => /unreachable/.test(l)).length, 1, err.join("\n"));
  } finally {
    await listen.stop();
    await a2?.stop();
    await done().catch(() => {});
  }
});

Deno.test("chat restart: a daemon back on another port is named loudly; the line is listed, exit 3", async () => {
  const { a, b, done } = await startPair();
  const chat = spawnCli(["chat", b.id, "--history", "0", "--wait", "1", "--state-dir", a.stateDir]);
  const { child, out, err } = chat;
  let a2: DaemonProcess | undefined;
  try {
    await waitFor(() => out.some((l) => l.startsWith("type a message")), "the chat");
    assertEquals(await a.stop(), 0);
    await chat.write("lost port\n");
    a2 = await startDaemonProcess({ stateDir: a.stateDir }); // a new port
    await waitFor(() => err.some((l) => /now listens on 127\.0\.0\.1:\d+, which/.test(l)), "why");
    await chat.end();
    assertEquals((await child.status).code, 3, err.join("\n"));
    assertOk(err.includes("  lost port"), err.join("\n"));
    assertEquals(await copies(a, b, "lost port", a2.api), { got: 0, out: 0 });
  } finally {
    await chat.stop();
    await a2?.stop();
    await done().catch(() => {});
  }
});
