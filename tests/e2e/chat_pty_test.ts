/**
 * `schied chat` on a terminal (a pseudo-terminal, tests/e2e/chat_pty_harness.ts): the line
 * editor's keys, a paste longer than the canonical-mode limit, wide characters, history,
 * incoming messages drawn above the line being typed, notices of other peers, renames; each
 * checked against what the second daemon received.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { SCHIED, waitFor } from "../harness.ts";
import {
  cli,
  type DaemonProcess,
  startDaemonProcess,
  startPair,
  waitOnline,
} from "../daemon_harness.ts";
import { screenLines, spawnPty } from "./chat_pty_harness.ts";

const LEFT = "\x1b[D", UP = "\x1b[A", END = "\x1b[F", HOME = "\x1bOH";

/** Texts `to` received from `from`, oldest first. */
async function received(to: DaemonProcess, from: DaemonProcess): Promise<string[]> {
  return (await to.api.messages({ with: from.id, limit: 1000 }))
    .filter((m) => m.direction === "in").map((m) => m.text);
}

Deno.test("chat pty: editing keys, a 5,000-byte paste, wide characters, history, incoming lines", async () => {
  const { a, b, done } = await startPair();
  let c: DaemonProcess | undefined;
  const relay = (await a.api.me()).relay!;
  assertEquals((await cli(["contacts", "add", b.id, "bob", "--state-dir", a.stateDir])).code, 0);
  for (const t of ["old 1", "old 2", "old 3"]) await b.api.send({ to: a.id, text: t });
  await waitFor(async () => (await received(a, b)).length === 3, "the history at A");
  const chat = spawnPty(SCHIED, ["chat", "bob", "--history", "2", "--state-dir", a.stateDir]);
  try {
    await chat.waitLine(/^type a message/, "the chat's first lines");
    const lines = screenLines(chat.raw());
    assertOk(lines.some((l) => l.startsWith("chat with bob (")), lines.join("\n"));
    assertOk(!lines.some((l) => l.endsWith("bob: old 1")), "only the last two");
    assertOk(
      lines.some((l) => l.endsWith("bob: old 2")) && lines.some((l) => l.endsWith("bob: old 3")),
    );

    const sent: string[] = [];
    const expect = async (text: string) => {
      sent.push(text);
      await waitFor(
        async () => (await received(b, a)).length === sent.length,
        `B got "${text.slice(0, 20)}"`,
      );
      assertEquals(await received(b, a), sent);
    };
    // Arrow keys move the cursor instead of being sent as text.
    await chat.type(`abc${LEFT}${LEFT}X\r`);
    await expect("aXbc");
    await chat.waitLine(/ me: aXbc ·$/, "the accepted line");
    // A wide character: Left moves over it as one, End goes back to the end.
    await chat.type(`日本${LEFT}x${END}!\r`);
    await expect("日x本!");
    // Past the terminal's canonical-mode limit of 4,095 bytes, typed as one burst.
    const long = Array.from({ length: 850 }, (_, i) => `w${String(i).padStart(4, "0")}-`).join("") +
      "end";
    assertOk(long.length > 4095);
    await chat.type(long + "\r");
    await expect(long);
    // A bracketed paste keeps its newline (one message), Home and Ctrl-E edit around it.
    await chat.type(`\x1b[200~line 1\nline 2\x1b[201~${HOME}> \x05!\r`);
    await expect("> line 1\nline 2!");
    // History: four lines back is the first one.
    await chat.type(`${UP}${UP}${UP}${UP}${END}2\r`);
    await expect("aXbc2");
    // Ctrl-W, Ctrl-U and Backspace.
    await chat.type("one two\x17three\x7f\x7f\r");
    await expect("one thr");
    await chat.type("gone\x15kept\r");
    await expect("kept");

    // An incoming message is drawn above the line being typed, which is drawn again after it.
    await chat.type("half typed");
    await waitFor(() => screenLines(chat.raw()).at(-1) === "> half typed", "the typed part");
    await b.api.send({ to: a.id, text: "hi from bob" });
    await chat.waitLine(/ bob: hi from bob$/, "the incoming line");
    await waitFor(() => screenLines(chat.raw()).at(-1) === "> half typed", "the line redrawn");
    await chat.type(" now\r");
    await expect("half typed now");

    // Someone else writes: a stranger's request, then a contact's message, as notices.
    c = await startDaemonProcess({ relay });
    await waitOnline(c);
    await c.api.addContact({ id: a.id });
    await c.api.send({ to: a.id, text: "psst" });
    await chat.waitLine(
      new RegExp(`\\(message request from ${c.id.slice(0, 8)}`),
      "the request notice",
    );
    await a.api.acceptRequest(c.id, "carol");
    await c.api.send({ to: a.id, text: "again" });
    await chat.waitLine(/\(new message from carol — schied chat carol\)/, "the message notice");
    assertOk(!screenLines(chat.raw()).some((l) => /psst|again/.test(l)), "no text of theirs");

    // The peer's new name shows.
    assertEquals(
      (await cli(["contacts", "add", b.id, "robert", "--state-dir", a.stateDir])).code,
      0,
    );
    await chat.waitLine(/\(bob is now robert\)/, "the rename", 15_000);
    await b.api.send({ to: a.id, text: "call me robert" });
    await chat.waitLine(/ robert: call me robert$/, "the new name on the line");

    // Ctrl-D on an empty line ends the chat once all is delivered.
    await chat.type("\x04");
    assertEquals(await chat.exited, 0, chat.raw());
  } finally {
    await chat.stop();
    await c?.stop();
    await done();
  }
});

Deno.test("chat: an unknown peer exits 4 before anything is typed; a well-formed id is allowed", async () => {
  const { a, done } = await startPair();
  try {
    const r = await cli(["chat", "nobody", "--state-dir", a.stateDir]);
    assertEquals(r.code, 4, r.stderr);
    assertEquals(r.stdout, "");
    assertOk(
      r.stderr.startsWith('schied: error: "nobody" is neither a contact nor an id\n'),
      r.stderr,
    );
    assertOk(r.stderr.includes("schied: hint: "), r.stderr);
    const stranger = "11111111-1111-8111-8111-111111111111";
    const ok = await cli(["chat", stranger, "--history", "0", "--state-dir", a.stateDir], {
      stdin: "",
    });
    assertEquals(ok.code, 0, ok.stderr);
    assertOk(ok.stdout.startsWith(`chat with 11111111 (${stranger})`), ok.stdout);
    const bad = await cli(["chat", "bob", "--history", "-1", "--state-dir", a.stateDir]);
    assertEquals(bad.code, 2, bad.stderr);
  } finally {
    await done();
  }
});

Deno.test("chat pty: SIGTERM ends the chat like Ctrl-C and gives the terminal back", async () => {
  const { a, b, done } = await startPair();
  const chat = spawnPty(SCHIED, ["chat", b.id, "--state-dir", a.stateDir]);
  try {
    await chat.waitLine(/^type a message/, "the chat");
    await chat.type("unfinished");
    await waitFor(() => screenLines(chat.raw()).at(-1) === "> unfinished", "the typed part");
    assertEquals(await chat.stop(), 130);
    assertOk(chat.raw().endsWith("\x1b[?2004l"), JSON.stringify(chat.raw().slice(-80)));
  } finally {
    await chat.stop();
    await done();
  }
});
