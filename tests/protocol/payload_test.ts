import { assertEquals, assertThrows } from "../_assert.ts";
import { utf8 } from "../../protocol/bytes.ts";
import { MAX_TEXT_BYTES } from "../../protocol/constants.ts";
import { pad } from "../../protocol/envelope.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { encodePayload, parsePayload } from "../../protocol/payload.ts";

const ID = "0b3e51c2-6f1d-4a4e-9c1b-2d3e4f5a6b7c";
const msg = { t: "m", id: ID, seq: 1, ts: 1_700_000_000_000, text: "hi" };
const json = (v: unknown) => utf8.encode(JSON.stringify(v));
const badFrame = (text: string) => (e: Error) =>
  e instanceof ProtocolError && e.code === "bad_frame" &&
  e.message === `Cannot parse payload: ${text}`;

Deno.test("payload: message and ack round-trip", () => {
  const m = { t: "m", id: ID, seq: 7, ts: 0, text: 'grüße 👋\n"quoted"' } as const;
  assertEquals(parsePayload(encodePayload(m)), m);
  assertEquals(parsePayload(encodePayload({ t: "a", upto: 0 })), { t: "a", upto: 0 });
  assertEquals(parsePayload(encodePayload({ t: "a", upto: 2 ** 53 - 1 })), {
    t: "a",
    upto: 2 ** 53 - 1,
  });
  assertEquals(
    new TextDecoder().decode(encodePayload({ t: "a", upto: 3 })),
    '{"t":"a","upto":3}',
    "the wire form is plain JSON",
  );
});

Deno.test("payload: every malformed payload has its own error", () => {
  const m = (patch: Record<string, unknown>) => json({ ...msg, ...patch });
  const cases: [string, Uint8Array, string][] = [
    ["not JSON", utf8.encode("{t:m}"), "not UTF-8 JSON"],
    ["empty", new Uint8Array(), "not UTF-8 JSON"],
    ["not UTF-8", Uint8Array.of(0x7b, 0xff, 0x7d), "not UTF-8 JSON"],
    ["a string", json("m"), "not a JSON object"],
    ["a number", json(5), "not a JSON object"],
    ["null", json(null), "not a JSON object"],
    ["an array", json([msg]), "not a JSON object"],
    ["no id", json({ t: "m", seq: 1, ts: 0, text: "x" }), "id is not a message id"],
    ["numeric id", m({ id: 5 }), "id is not a message id"],
    ["empty id", m({ id: "" }), "id is not a message id"],
    ["upper-case id", m({ id: ID.toUpperCase() }), "id is not a message id"],
    ["id with a slash", m({ id: "ab/cd" }), "id is not a message id"],
    ["id of 65 characters", m({ id: "a".repeat(65) }), "id is not a message id"],
    ["seq 0", m({ seq: 0 }), "seq is not a positive integer"],
    ["seq negative", m({ seq: -1 }), "seq is not a positive integer"],
    ["seq float", m({ seq: 1.5 }), "seq is not a positive integer"],
    ["seq string", m({ seq: "1" }), "seq is not a positive integer"],
    ["seq unsafe", m({ seq: 2 ** 53 }), "seq is not a positive integer"],
    ["no seq", json({ t: "m", id: ID, ts: 0, text: "x" }), "seq is not a positive integer"],
    ["ts float", m({ ts: 1.25 }), "ts is not a timestamp"],
    ["ts negative", m({ ts: -1 }), "ts is not a timestamp"],
    ["ts string", m({ ts: "2024-01-01" }), "ts is not a timestamp"],
    ["ts null", m({ ts: null }), "ts is not a timestamp"],
    ["text number", m({ text: 42 }), "text is not a string"],
    ["text null", m({ text: null }), "text is not a string"],
    ["text array", m({ text: ["a"] }), "text is not a string"],
    [
      "text over the limit",
      m({ text: "a".repeat(MAX_TEXT_BYTES + 1) }),
      "text exceeds 60000 bytes",
    ],
    // 30,001 two-byte characters: fewer characters than the limit, more UTF-8 bytes.
    ["text over in UTF-8", m({ text: "é".repeat(30_001) }), "text exceeds 60000 bytes"],
    ["upto missing", json({ t: "a" }), "upto is not a non-negative integer"],
    ["upto negative", json({ t: "a", upto: -1 }), "upto is not a non-negative integer"],
    ["upto float", json({ t: "a", upto: 0.5 }), "upto is not a non-negative integer"],
    ["upto string", json({ t: "a", upto: "3" }), "upto is not a non-negative integer"],
  ];
  for (const [name, bytes, text] of cases) {
    assertThrows(() => parsePayload(bytes), badFrame(text), name);
  }
});

Deno.test("payload: text of exactly MAX_TEXT_BYTES UTF-8 bytes is accepted", () => {
  for (const text of ["a".repeat(MAX_TEXT_BYTES), "é".repeat(MAX_TEXT_BYTES / 2)]) {
    const p = parsePayload(json({ ...msg, text }));
    assertEquals(p.t === "m" && utf8.encode(p.text).length, MAX_TEXT_BYTES);
  }
  // Such a message (of characters JSON does not escape) fits the largest padding class.
  const big = encodePayload({
    ...msg,
    t: "m",
    seq: 2 ** 53 - 1,
    ts: 2 ** 53 - 1,
    text: "€".repeat(20_000),
  });
  assertEquals(pad(big).length, 63178);
});

Deno.test("payload: an unknown or missing t is skipped as unknown", () => {
  for (const v of [{ t: "x" }, { t: "receipt", upto: 1 }, {}, { t: 5 }, { t: null }, { t: "M" }]) {
    assertEquals(parsePayload(json(v)), { t: "unknown" }, JSON.stringify(v));
  }
});

Deno.test("payload: unknown extra fields are ignored and dropped", () => {
  assertEquals(parsePayload(json({ ...msg, reply_to: "x", v: 2, nested: { a: [1] } })), {
    t: "m",
    id: ID,
    seq: 1,
    ts: 1_700_000_000_000,
    text: "hi",
  });
  assertEquals(parsePayload(json({ t: "a", upto: 9, extra: true })), { t: "a", upto: 9 });
});
