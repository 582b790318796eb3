import { assertEquals, assertOk, assertThrows } from "../_assert.ts";
import { ENVELOPE_HEADER_LEN, ENVELOPE_VERSION, PAD_BUCKETS } from "../../protocol/constants.ts";
import {
  encodeEnvelope,
  ENVELOPE_KINDS,
  type EnvelopeKind,
  pad,
  parseEnvelope,
  unpad,
} from "../../protocol/envelope.ts";
import { ProtocolError } from "../../protocol/errors.ts";

const id = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
const hasCode = (code: string, text: string) => (e: Error) =>
  e instanceof ProtocolError && e.code === code && e.message.includes(text);

Deno.test("envelope: kinds are numbered 1 to 4 and round-trip with their header", () => {
  assertEquals(ENVELOPE_KINDS, { hs1: 1, hs2: 2, hs3: 3, msg: 4 });
  assertEquals([ENVELOPE_VERSION, ENVELOPE_HEADER_LEN], [1, 10]);
  for (const kind of Object.keys(ENVELOPE_KINDS) as EnvelopeKind[]) {
    for (const body of [new Uint8Array(), Uint8Array.of(9), new Uint8Array(1000).fill(7)]) {
      const bytes = encodeEnvelope(kind, id, body);
      assertEquals(bytes.length, 10 + body.length);
      assertEquals([...bytes.subarray(0, 10)], [1, ENVELOPE_KINDS[kind], 1, 2, 3, 4, 5, 6, 7, 8]);
      const env = parseEnvelope(bytes);
      assertEquals(env.kind, kind);
      assertEquals(env.id, id);
      assertEquals(env.body, body);
      assertEquals(env.header, bytes.subarray(0, 10));
    }
  }
});

Deno.test("envelope: the parsed id is a copy, not a view of the input", () => {
  const bytes = encodeEnvelope("msg", id, Uint8Array.of(1));
  const env = parseEnvelope(bytes);
  bytes[2] = 0xff;
  assertEquals(env.id, id);
});

Deno.test("envelope: an id must be 8 bytes", () => {
  for (const n of [0, 7, 9, 16]) {
    assertThrows(
      () => encodeEnvelope("hs1", new Uint8Array(n), new Uint8Array()),
      (e) => e instanceof TypeError && e.message === "An envelope id is 8 bytes",
    );
  }
});

Deno.test("envelope: every malformed envelope has its own error", () => {
  const good = encodeEnvelope("msg", id, Uint8Array.of(1, 2));
  const withByte = (i: number, v: number) => {
    const b = good.slice();
    b[i] = v;
    return b;
  };
  const cases: [string, Uint8Array, string][] = [
    ["empty", new Uint8Array(), "length 0 is shorter than the 10-byte header"],
    ["one byte", Uint8Array.of(1), "length 1 is shorter than the 10-byte header"],
    ["nine bytes", good.subarray(0, 9), "length 9 is shorter than the 10-byte header"],
    ["version 0", withByte(0, 0), "version 0 is not 1"],
    ["version 2", withByte(0, 2), "version 2 is not 1"],
    ["version 255", withByte(0, 255), "version 255 is not 1"],
    ["kind 0", withByte(1, 0), "kind 0 is unknown"],
    ["kind 5", withByte(1, 5), "kind 5 is unknown"],
    ["kind 255", withByte(1, 255), "kind 255 is unknown"],
  ];
  for (const [name, bytes, text] of cases) {
    assertThrows(
      () => parseEnvelope(bytes),
      hasCode("bad_frame", `Cannot parse envelope: ${text}`),
      name,
    );
  }
  // A bare header is a well-formed envelope with an empty body (sessions reject it later).
  assertEquals(parseEnvelope(good.subarray(0, 10)).body.length, 0);
});

Deno.test("pad: the size classes, at and around each boundary", () => {
  assertEquals(PAD_BUCKETS, [256, 1024, 4096, 16384, 63178]);
  const classOf = (n: number) => pad(new Uint8Array(n)).length;
  assertEquals(classOf(0), 256);
  let prev = 0;
  for (const b of PAD_BUCKETS) {
    const most = b - 4; // the 4-byte length prefix counts
    assertEquals(classOf(most), b, `${most} bytes fill the ${b} class`);
    assertEquals(classOf(most - 1), b);
    if (prev > 0) assertEquals(classOf(prev - 3), b, `${prev - 3} bytes spill into ${b}`);
    prev = b;
  }
  const last = PAD_BUCKETS[PAD_BUCKETS.length - 1]!;
  // The largest class keeps a MSG inside 64 KiB even with both ML-KEM fields in its header:
  // version, shape, synthetic nonce 12, header 40 + 1184 + 1088, tag 16; padded text, tag 16.
  assertEquals(2 + 12 + 40 + 1184 + 1088 + 16 + last + 16, 65536);
});

Deno.test("pad: layout is length (u32) ‖ data ‖ zeros, and unpad inverts it", () => {
  for (const n of [0, 1, 5, 251, 252, 253, 1020, 1021, 4092, 4093, 16380, 16381, 63174]) {
    const data = new Uint8Array(n).map((_, i) => (i * 7 + 1) & 0xff);
    const p = pad(data);
    assertEquals(new DataView(p.buffer).getUint32(0), n);
    assertEquals(p.subarray(4, 4 + n), data);
    assertOk(p.subarray(4 + n).every((b) => b === 0), "the padding is zeros");
    assertEquals(unpad(p), data);
  }
});

Deno.test("pad: a payload too large for the last class is refused with too_large", () => {
  const last = PAD_BUCKETS[PAD_BUCKETS.length - 1]!;
  for (const n of [last - 3, last, 65536, 100_000]) {
    assertThrows(
      () => pad(new Uint8Array(n)),
      hasCode("too_large", `Payload of ${n} bytes is too large`),
    );
  }
});

Deno.test("unpad: a length that lies or a too-short buffer is refused", () => {
  const lying = (n: number, size: number) => {
    const p = new Uint8Array(size);
    new DataView(p.buffer).setUint32(0, n);
    return p;
  };
  const cases: [Uint8Array, string][] = [
    [new Uint8Array(), "padded payload shorter than 4 bytes"],
    [new Uint8Array(3), "padded payload shorter than 4 bytes"],
    [lying(253, 256), "padded length 253 exceeds 252"],
    [lying(0xffffffff, 256), "padded length 4294967295 exceeds 252"],
    [lying(1, 4), "padded length 1 exceeds 0"],
  ];
  for (const [bytes, text] of cases) {
    assertThrows(() => unpad(bytes), hasCode("bad_frame", `Cannot parse envelope: ${text}`));
  }
  assertEquals(unpad(lying(252, 256)).length, 252, "exactly full is fine");
  assertEquals(unpad(lying(0, 4)).length, 0);
  // unpad reads the length through the view's offset, not the underlying buffer's start.
  const inner = pad(Uint8Array.of(9, 8, 7));
  const shifted = new Uint8Array(inner.length + 5);
  shifted.set(inner, 5);
  assertEquals(unpad(shifted.subarray(5)), Uint8Array.of(9, 8, 7));
});
