import { assertEquals, assertOk, assertThrows } from "../_assert.ts";
import { concat, utf8 } from "../../protocol/bytes.ts";
import { MAX_ENVELOPE, MAX_FRAME_BODY } from "../../protocol/constants.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { encodeFrame, type Frame, FRAME_TYPES, parseFrames } from "../../protocol/frames.ts";

const id = (b: number) => new Uint8Array(16).fill(b);

/** A raw frame: type, declared length (defaults to the body's), body. */
function raw(type: number, body: Uint8Array | number[] = [], len?: number): Uint8Array {
  const b = body instanceof Uint8Array ? body : Uint8Array.from(body);
  const out = new Uint8Array(5 + b.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, len ?? b.length);
  out.set(b, 5);
  return out;
}

const FROM_DAEMON: Frame[] = [
  { type: "send", seq: 0, to: id(1), envelope: Uint8Array.of(9) },
  { type: "send", seq: 0xffffffff, to: id(2), envelope: new Uint8Array(MAX_ENVELOPE).fill(7) },
  { type: "watch", ids: [id(3)] },
  { type: "watch", ids: Array.from({ length: 256 }, (_, i) => id(i)) },
  { type: "unwatch", ids: [id(4), id(5)] },
];

const FROM_RELAY: Frame[] = [
  {
    type: "welcome",
    id: id(6),
    registered: true,
    maxEnvelope: 65536,
    framesPerSecond: 5000,
    maxWatches: 1024,
  },
  {
    type: "welcome",
    id: id(7),
    registered: false,
    maxEnvelope: 0,
    framesPerSecond: 1,
    maxWatches: 0,
  },
  { type: "deliver", from: id(8), envelope: new Uint8Array(1000).fill(3) },
  { type: "result", seq: 42, status: "delivered", code: null },
  { type: "result", seq: 43, status: "offline", code: null },
  { type: "result", seq: 44, status: "rejected", code: "too_large" },
  { type: "presence", id: id(9), online: true },
  { type: "presence", id: id(10), online: false },
  { type: "error", code: "replaced", reason: "Another session logged in with this id" },
  { type: "error", code: "rate_limited", reason: "" },
  { type: "error", code: "watch_limit", reason: "über ✓ 😀" },
];

for (const [sender, frames] of [["daemon", FROM_DAEMON], ["relay", FROM_RELAY]] as const) {
  for (const [i, f] of frames.entries()) {
    Deno.test(`frames: ${sender} frame ${i} (${f.type}) round-trips`, () => {
      const bytes = encodeFrame(f);
      assertEquals(bytes[0], FRAME_TYPES[f.type]);
      assertEquals(new DataView(bytes.buffer).getUint32(1), bytes.length - 5, "declared length");
      assertEquals(parseFrames(bytes, sender), [f]);
    });
  }
  Deno.test(`frames: a record of every ${sender} frame parses back in order`, () => {
    assertEquals(parseFrames(concat(...frames.map(encodeFrame)), sender), frames);
  });
}

Deno.test("frames: body layouts match the spec byte for byte", () => {
  const send = encodeFrame({
    type: "send",
    seq: 0x01020304,
    to: id(0xaa),
    envelope: Uint8Array.of(5, 6),
  });
  assertEquals([...send.subarray(0, 9)], [0x01, 0, 0, 0, 22, 1, 2, 3, 4]);
  assertEquals([...send.subarray(25)], [5, 6]);
  const welcome = encodeFrame({
    type: "welcome",
    id: id(1),
    registered: true,
    maxEnvelope: 2,
    framesPerSecond: 3,
    maxWatches: 4,
  });
  assertEquals([...welcome.subarray(0, 5)], [0x81, 0, 0, 0, 29]);
  assertEquals([...welcome.subarray(21)], [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]);
  const result = encodeFrame({ type: "result", seq: 7, status: "rejected", code: "too_large" });
  assertEquals([...result], [0x83, 0, 0, 0, 7, 0, 0, 0, 7, 2, 0, 3]);
  const error = encodeFrame({ type: "error", code: "auth_failed", reason: "x" });
  assertEquals([...error], [0x85, 0, 0, 0, 3, 0, 12, 0x78]);
  const watch = encodeFrame({ type: "unwatch", ids: [id(1)] });
  assertEquals([...watch.subarray(0, 7)], [0x03, 0, 0, 0, 18, 0, 1]);
});

Deno.test("frames: unknown wire error numbers read as internal, code 0 means none", () => {
  const result = raw(0x83, [0, 0, 0, 1, 0, 0x03, 0xe7]); // code 999
  assertEquals(parseFrames(result, "relay"), [
    { type: "result", seq: 1, status: "delivered", code: "internal" },
  ]);
  assertEquals(parseFrames(raw(0x85, [0, 0]), "relay"), [
    { type: "error", code: "internal", reason: "" },
  ]);
});

Deno.test("frames: extension types are skipped, with known frames around them kept", () => {
  const a = encodeFrame({ type: "watch", ids: [id(1)] });
  const b = encodeFrame({ type: "unwatch", ids: [id(2)] });
  for (const t of [0x40, 0x55, 0x7f]) {
    const rec = concat(a, raw(t, new Uint8Array(100).fill(0xee)), raw(t), b);
    assertEquals(parseFrames(rec, "daemon").map((f) => f.type), ["watch", "unwatch"], `0x${t}`);
  }
  for (const t of [0xc0, 0xd1, 0xff]) {
    assertEquals(parseFrames(raw(t, [1, 2, 3]), "relay"), [], `0x${t}`);
  }
  // An extension frame may be as large as any frame.
  assertEquals(parseFrames(raw(0x40, new Uint8Array(MAX_FRAME_BODY)), "daemon"), []);
});

Deno.test("frames: the encoder refuses out-of-range fields", () => {
  const cases: [string, Frame, string][] = [
    [
      "short to",
      { type: "send", seq: 1, to: new Uint8Array(15), envelope: Uint8Array.of(1) },
      "to must be 16",
    ],
    ["big envelope", {
      type: "send",
      seq: 1,
      to: id(1),
      envelope: new Uint8Array(MAX_ENVELOPE + 1),
    }, "outside 1–65536"],
    [
      "empty envelope",
      { type: "send", seq: 1, to: id(1), envelope: new Uint8Array() },
      "outside 1–65536",
    ],
    ["257 ids", { type: "watch", ids: Array.from({ length: 257 }, () => id(1)) }, "At most 256"],
    ["bad watch id", { type: "unwatch", ids: [new Uint8Array(17)] }, "id must be 16"],
    [
      "bad from",
      { type: "deliver", from: new Uint8Array(0), envelope: Uint8Array.of(1) },
      "from must be 16",
    ],
    ["bad presence id", { type: "presence", id: new Uint8Array(1), online: true }, "id must be 16"],
  ];
  for (const [name, f, msg] of cases) {
    const e = assertThrows(() => encodeFrame(f), undefined, name);
    assertOk(e instanceof TypeError && e.message.includes(msg), `${name}: ${e.message}`);
  }
});

Deno.test("frames: an over-long error reason is cut down to one that parses", () => {
  const f = encodeFrame({ type: "error", code: "internal", reason: "é".repeat(200) });
  const [back] = parseFrames(f, "relay");
  assertOk(back?.type === "error" && utf8.encode(back.reason).length <= 256);
  assertEquals(back.reason, "é".repeat(64));
});

const sendBody = (envLen: number) => new Uint8Array(20 + envLen);
const idsBody = (count: number, ids: number) =>
  concat(Uint8Array.of(count >> 8, count & 0xff), new Uint8Array(ids * 16));
const send1 = encodeFrame({ type: "send", seq: 1, to: id(1), envelope: Uint8Array.of(1) });

/** name, record, sender, expected code, a distinguishing part of the message. */
// deno-fmt-ignore
const MALFORMED: [string, Uint8Array, "daemon" | "relay", string, string][] = [
  ["empty record", new Uint8Array(), "daemon", "bad_frame", "empty record"],
  ["truncated header", Uint8Array.of(1, 0, 0), "daemon", "bad_frame", "truncated header: 3 bytes, expected 5"],
  ["truncated 2nd header", concat(send1, Uint8Array.of(1)), "daemon", "bad_frame", "truncated header: 1 bytes"],
  ["length over max", raw(0x01, [], 70000), "daemon", "bad_frame", `length 70000 exceeds ${MAX_FRAME_BODY}`],
  ["length 2^32-1", raw(0x82, [], 0xffffffff), "relay", "bad_frame", "length 4294967295 exceeds"],
  ["length past record", raw(0x01, new Uint8Array(20), 30), "daemon", "bad_frame", "length 30 exceeds the 20 bytes left"],
  ["send too short", raw(0x01, new Uint8Array(19)), "daemon", "bad_frame", "send body is 19 bytes, shorter than 20"],
  ["send empty envelope", raw(0x01, sendBody(0)), "daemon", "bad_frame", "send envelope is empty"],
  ["watch body short", raw(0x02, [0]), "daemon", "bad_frame", "watch body is 1 bytes, shorter than 2"],
  ["watch count 0", raw(0x02, idsBody(0, 0)), "daemon", "bad_frame", "watch has no ids"],
  ["unwatch count 0", raw(0x03, idsBody(0, 0)), "daemon", "bad_frame", "unwatch has no ids"],
  ["watch count 257", raw(0x02, idsBody(257, 257)), "daemon", "bad_frame", "watch count 257 exceeds 256"],
  ["watch too few ids", raw(0x02, idsBody(2, 1)), "daemon", "bad_frame", "watch body is 18 bytes, expected 34"],
  ["unwatch extra bytes", raw(0x03, concat(idsBody(1, 1), Uint8Array.of(0))), "daemon", "bad_frame", "unwatch body is 19 bytes, expected 18"],
  ["welcome short", raw(0x81, new Uint8Array(28)), "relay", "bad_frame", "welcome body is 28 bytes, expected 29"],
  ["welcome flag bits", raw(0x81, concat(id(1), Uint8Array.of(2), new Uint8Array(12))), "relay", "bad_frame", "welcome flags 2 has unknown bits"],
  ["deliver no envelope", raw(0x82, id(1)), "relay", "bad_frame", "deliver body is 16 bytes, no envelope"],
  ["result long", raw(0x83, new Uint8Array(8)), "relay", "bad_frame", "result body is 8 bytes, expected 7"],
  ["result status 3", raw(0x83, [0, 0, 0, 1, 3, 0, 0]), "relay", "bad_frame", "result status 3 is unknown"],
  ["presence short", raw(0x84, id(1)), "relay", "bad_frame", "presence body is 16 bytes, expected 17"],
  ["presence flag 2", raw(0x84, concat(id(1), Uint8Array.of(2))), "relay", "bad_frame", "presence flag 2 is not 0 or 1"],
  ["error short", raw(0x85, [0]), "relay", "bad_frame", "error body is 1 bytes, shorter than 2"],
  ["error not UTF-8", raw(0x85, [0, 1, 0xc3, 0x28]), "relay", "bad_frame", "error reason is not UTF-8"],
  ["error reason 257", raw(0x85, new Uint8Array(2 + 257).fill(0x61)), "relay", "bad_frame", "error reason exceeds 256 bytes"],
  ["unknown 0x04", raw(0x04), "daemon", "unknown_frame", "unknown type 0x04"],
  ["unknown 0x3f", raw(0x3f, [1]), "daemon", "unknown_frame", "unknown type 0x3f"],
  ["unknown 0x00", raw(0x00), "daemon", "unknown_frame", "unknown type 0x00"],
  ["unknown 0x86", raw(0x86), "relay", "unknown_frame", "unknown type 0x86"],
  ["unknown 0xbf", raw(0xbf), "relay", "unknown_frame", "unknown type 0xbf"],
  ["send by relay", send1, "relay", "bad_frame", "type 0x01 cannot be sent by the relay"],
  ["welcome by daemon", raw(0x81, new Uint8Array(29)), "daemon", "bad_frame", "type 0x81 cannot be sent by the daemon"],
  ["error by daemon", raw(0x85, [0, 1]), "daemon", "bad_frame", "type 0x85 cannot be sent by the daemon"],
  ["ext 0x40 by relay", raw(0x40), "relay", "bad_frame", "type 0x40 cannot be sent by the relay"],
  ["ext 0xc0 by daemon", raw(0xc0), "daemon", "bad_frame", "type 0xc0 cannot be sent by the daemon"],
  ["bad after good", concat(send1, raw(0x02, idsBody(300, 0))), "daemon", "bad_frame", "watch count 300 exceeds 256"],
];

Deno.test("frames: each malformed input fails with its own code and message", () => {
  const seen = new Set<string>();
  for (const [name, record, sender, code, msg] of MALFORMED) {
    const e = assertThrows(() => parseFrames(record, sender), undefined, name);
    assertOk(e instanceof ProtocolError, `${name}: not a ProtocolError: ${e}`);
    assertEquals(e.code, code, `${name}: code`);
    assertOk(e.message.startsWith("Cannot parse frame: "), `${name}: ${e.message}`);
    assertOk(e.message.includes(msg), `${name}: "${e.message}" lacks "${msg}"`);
    seen.add(e.message);
  }
  assertEquals(seen.size, MALFORMED.length, "every case has a distinct message");
});

Deno.test("frames: ACK (0x86) exists from link version 2, 4 bytes, and is unknown in version 1", () => {
  const ack = encodeFrame({ type: "ack", upto: 0x01020304 });
  assertEquals([...ack], [0x86, 0, 0, 0, 4, 1, 2, 3, 4]);
  assertEquals(parseFrames(ack, "relay", 2), [{ type: "ack", upto: 0x01020304 }]);
  const e = assertThrows(() => parseFrames(ack, "relay", 1)) as ProtocolError;
  assertEquals([e.code, e.message], ["unknown_frame", "Cannot parse frame: unknown type 0x86"]);
  assertEquals(
    (assertThrows(() => parseFrames(ack, "relay")) as ProtocolError).code,
    "unknown_frame",
  );
  for (const n of [0, 3, 5]) {
    const bad = assertThrows(() => parseFrames(raw(0x86, new Uint8Array(n)), "relay", 2));
    assertEquals(
      (bad as ProtocolError).message,
      `Cannot parse frame: ack body is ${n} bytes, expected 4`,
    );
  }
  const wrongWay = assertThrows(() => parseFrames(ack, "daemon", 2)) as ProtocolError;
  assertEquals(wrongWay.code, "bad_frame");
  // A RESULT and an ACK in one record, in order (the relay's version-2 answers).
  const rec = concat(encodeFrame({ type: "result", seq: 8, status: "offline", code: null }), ack);
  assertEquals(parseFrames(rec, "relay", 2).map((f) => f.type), ["result", "ack"]);
});
