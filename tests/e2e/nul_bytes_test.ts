/**
 * Issue 7, item 12: a NUL byte never cuts a message. Whatever way a text with a NUL comes in —
 * `schied send` from stdin (per line and --whole), POST /send with JSON `"\u0000"`, a raw
 * text/plain body — it is stored and delivered byte for byte on both sides (the sender's
 * GET /messages/{id}, the recipient's GET /messages and its SSE `message` event), and
 * `schied listen` prints it escaped, never a raw NUL on the terminal.
 *
 * The previous release accepted them and stored "nul" on both ends (node:sqlite bound the text
 * as a C string).
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { pumpLines, SCHIED, waitFor } from "../harness.ts";
import { cli, collectEvents, startPair } from "../daemon_harness.ts";
import { concat } from "../../protocol/bytes.ts";

/** Runs `schied listen ARGS` until `lines` lines are out; returns stdout's raw bytes. */
async function listenBytes(args: string[], lines: number): Promise<Uint8Array> {
  const child = new Deno.Command(SCHIED, {
    args: ["listen", ...args],
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const chunks: Uint8Array[] = [];
  const err: string[] = [];
  void pumpLines(child.stderr, (l) => err.push(l));
  const reading = (async () => {
    for await (const c of child.stdout) chunks.push(c);
  })();
  const count = () => chunks.reduce((n, c) => n + c.filter((b) => b === 10).length, 0);
  try {
    await waitFor(() => count() >= lines, `${lines} lines from schied listen ${args.join(" ")}`);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await reading;
  }
  const out = concat(...chunks);
  assertOk(!err.some((l) => l.startsWith("schied: error")), err.join("\n"));
  return out;
}

Deno.test("NUL bytes: every way in, the text is stored and delivered whole, and listen escapes it", async () => {
  const { a, b, done } = await startPair();
  const evB = collectEvents(b, 0);
  try {
    await a.api.addContact({ id: b.id, name: "bob" });
    const ids: string[] = [];
    const texts: string[] = [];

    // `printf 'nul\x00after\n' | schied send bob`: one line, one message.
    const line = await cli(["send", "bob", "--state-dir", a.stateDir], {
      stdin: "nul\x00after\n",
    });
    assertEquals(line.code, 0, line.stderr);
    ids.push(line.stdout.trim());
    texts.push("nul\x00after");

    // The same with --whole (the trailing newline is not part of it).
    const whole = await cli(["send", "bob", "--whole", "--state-dir", a.stateDir], {
      stdin: "whole\x00text\x00\nsecond line\n",
    });
    assertEquals(whole.code, 0, whole.stderr);
    ids.push(whole.stdout.trim());
    texts.push("whole\x00text\x00\nsecond line");

    const post = async (body: string, type: string, query = "") => {
      const res = await fetch(`${a.apiUrl}/send${query}`, {
        method: "POST",
        headers: { authorization: `Bearer ${a.token}`, "content-type": type },
        body,
      });
      const j = await res.json();
      // Refusing would have to be a 400 before acceptance; it is accepted, whole.
      assertEquals(res.status, 202, JSON.stringify(j));
      return j.id as string;
    };
    // POST /send with {"text":"json\u0000nul"} (the escape is in the JSON text itself).
    ids.push(await post(`{"to":"${b.id}","text":"json\\u0000nul"}`, "application/json"));
    texts.push("json\u0000nul");
    // A raw text/plain body with a NUL (and one at the very start and end).
    ids.push(await post("\x00raw\x00plain\x00", "text/plain", `?to=${b.id}`));
    texts.push("\x00raw\x00plain\x00");

    for (const t of texts) assertOk(t.includes("\x00"), "each text has a NUL");
    await waitFor(async () => {
      const ms = await Promise.all(ids.map((id) => a.api.message(id)));
      return ms.every((m) => m.status === "delivered");
    }, "all four delivered");

    // The sender's store.
    for (const [i, id] of ids.entries()) assertEquals((await a.api.message(id)).text, texts[i]);
    // The recipient's store, by the same ids, and through GET /messages.
    const got = await b.api.messages({ with: a.id });
    assertEquals(got.map((m) => m.id), ids);
    assertEquals(got.map((m) => m.text), texts);
    for (const [i, id] of ids.entries()) assertEquals((await b.api.message(id)).text, texts[i]);
    // The recipient's SSE stream.
    await waitFor(
      () => evB.events.filter((e) => e.type === "message").length >= texts.length,
      "four message events at B",
    );
    assertEquals(
      evB.events.filter((e) => e.type === "message").map((e) => e.data.text),
      texts,
    );
    // The raw JSON on the wire keeps the escape (no NUL byte in the HTTP body, none dropped).
    const raw = await fetch(`${b.apiUrl}/messages/${ids[2]}`, {
      headers: { authorization: `Bearer ${b.token}` },
    });
    const rawText = await raw.text();
    assertOk(rawText.includes('"json\\u0000nul"'), rawText);

    // schied listen: escaped, no raw NUL on stdout.
    const plain = await listenBytes(["--since", "0", "--state-dir", b.stateDir], texts.length);
    assertOk(!plain.includes(0), "no raw NUL from schied listen");
    const shown = new TextDecoder().decode(plain);
    for (const s of ["nul\\x00after", "whole\\x00text\\x00\\nsecond line", "json\\x00nul"]) {
      assertOk(shown.includes(s), `listen shows ${JSON.stringify(s)}: ${JSON.stringify(shown)}`);
    }
    assertOk(shown.includes(": \\x00raw\\x00plain\\x00\n"), JSON.stringify(shown));
    const json = await listenBytes(
      ["--json", "--since", "0", "--state-dir", b.stateDir],
      texts.length,
    );
    assertOk(!json.includes(0), "no raw NUL from schied listen --json");
    const parsed = new TextDecoder().decode(json).trim().split("\n").map((l) => JSON.parse(l));
    assertEquals(parsed.map((p) => p.data.text), texts);
  } finally {
    evB.stop();
    await done();
  }
});

Deno.test("NUL bytes: a text that is only a NUL is kept whole (or refused with 400), never emptied", async () => {
  const { a, b, done } = await startPair();
  try {
    // "\u0000" is not whitespace: it is a one-character text, kept as such.
    const res = await fetch(`${a.apiUrl}/send`, {
      method: "POST",
      headers: { authorization: `Bearer ${a.token}`, "content-type": "application/json" },
      body: JSON.stringify({ to: b.id, text: "\u0000" }),
    });
    const j = await res.json();
    if (res.status === 202) {
      await waitFor(async () => (await a.api.message(j.id)).status === "delivered", "delivered");
      assertEquals((await a.api.message(j.id)).text, "\u0000");
      assertEquals((await b.api.message(j.id)).text, "\u0000");
    } else {
      // The only other acceptable outcome: refused before acceptance, with a 400.
      assertEquals(res.status, 400, JSON.stringify(j));
      assertEquals((await a.api.status()).outbox.size, 0);
    }
  } finally {
    await done();
  }
});
