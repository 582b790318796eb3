import fc from "fast-check";
import { assertEquals, assertOk, assertThrows } from "../../_assert.ts";
import {
  closePayload,
  decodeText,
  frameHeaderLength,
  parseClosePayload,
  writeFrameHeader,
  WS_CLOSE,
  WsParser,
  WsProtocolError,
} from "../../../lib/net/_ws_frames.ts";
import { closeBody, concat, enc, frame, splitAt } from "./_helpers.ts";

type Event =
  | { kind: "message"; data: number[]; binary: boolean }
  | { kind: "control"; opcode: number; data: number[] };

/** A parser whose output lands in `events`. */
function parser(maxMessage = 1 << 20): { p: WsParser; events: Event[] } {
  const events: Event[] = [];
  const p = new WsParser(maxMessage, {
    message: (d, binary) => events.push({ kind: "message", data: [...d], binary }),
    control: (opcode, d) => events.push({ kind: "control", opcode, data: [...d] }),
  });
  return { p, events };
}

/** The WsProtocolError `fn` throws. */
function protocolError(fn: () => unknown, why: string): WsProtocolError {
  const e = assertThrows(fn, (e) => e instanceof WsProtocolError, why);
  return e as WsProtocolError;
}

const hex = (s: string) =>
  new Uint8Array(s.split(/\s+/).filter(Boolean).map((x) => parseInt(x, 16)));

Deno.test("ws_frames: RFC 6455 5.7 known answers (masked client frames)", () => {
  const { p, events } = parser();
  // A single-frame masked text message "Hello".
  p.push(hex("81 85 37 fa 21 3d 7f 9f 4d 51 58"));
  // A masked pong "Hello" (the RFC's example), and a masked ping with it.
  p.push(hex("8a 85 37 fa 21 3d 7f 9f 4d 51 58"));
  p.push(hex("89 85 37 fa 21 3d 7f 9f 4d 51 58"));
  // The RFC's fragmented text message "Hel" + "lo", masked with a zero mask.
  p.push(hex("01 83 00 00 00 00 48 65 6c"));
  p.push(hex("80 82 00 00 00 00 6c 6f"));
  const hello = [...enc.encode("Hello")];
  assertEquals(events, [
    { kind: "message", data: hello, binary: false },
    { kind: "control", opcode: 0xa, data: hello },
    { kind: "control", opcode: 0x9, data: hello },
    { kind: "message", data: hello, binary: false },
  ]);
  assertEquals(p.buffered, 0);
});

Deno.test("ws_frames: writeFrameHeader and frameHeaderLength at the length boundaries", () => {
  const cases: [number, number, string][] = [
    [0x2, 0, "82 00"],
    [0x1, 5, "81 05"],
    [0x2, 125, "82 7d"],
    [0x2, 126, "82 7e 00 7e"],
    [0x2, 256, "82 7e 01 00"], // RFC 6455 5.7
    [0x2, 65535, "82 7e ff ff"],
    [0x2, 65536, "82 7f 00 00 00 00 00 01 00 00"], // RFC 6455 5.7
    [0x8, 2, "88 02"],
    [0x9, 0, "89 00"],
    [0x2, 2 ** 32 + 5, "82 7f 00 00 00 01 00 00 00 05"],
    [0x2, 2 ** 40, "82 7f 00 00 01 00 00 00 00 00"],
  ];
  for (const [op, len, want] of cases) {
    const out = new Uint8Array(16).fill(0xee);
    const n = writeFrameHeader(out, 3, op, len);
    assertEquals(n, frameHeaderLength(len), `length ${len}`);
    assertEquals([...out.subarray(3, 3 + n)], [...hex(want)], `header of ${len}`);
    assertEquals(out[2], 0xee, "nothing written before `at`");
    assertEquals(out[3 + n], 0xee, "nothing written after the header");
  }
});

Deno.test("ws_frames: payload lengths 0/1/125/126/127/65535/65536/70000 round trip", () => {
  for (const len of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
    const data = Uint8Array.from({ length: len }, (_, i) => (i * 7 + 3) & 0xff);
    for (const opcode of [0x1, 0x2]) {
      const { p, events } = parser();
      p.push(frame(opcode, data));
      assertEquals(events.length, 1, `one message of ${len}`);
      const ev = events[0]!;
      assertOk(ev.kind === "message");
      assertEquals(ev.binary, opcode === 0x2);
      assertOk(ev.data.length === len && ev.data.every((b, i) => b === data[i]), `${len} bytes`);
    }
  }
});

Deno.test("ws_frames: property: unmasking round trips for any payload and mask", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)),
      fc.nat(7),
      (data, mask, pad) => {
        const { p, events } = parser();
        // Pushed at an odd offset of a larger buffer, so that views are not word aligned.
        const f = frame(0x2, data, { mask });
        const buf = new Uint8Array(pad + f.length);
        buf.set(f, pad);
        p.push(buf.subarray(pad));
        assertEquals(events, [{ kind: "message", data: [...data], binary: true }]);
      },
    ),
    { numRuns: 300 },
  );
});

/** An arbitrary well-formed client stream: messages (maybe fragmented) with control frames. */
const streamArb = fc.array(
  fc.oneof(
    fc.record({
      kind: fc.constant("message" as const),
      binary: fc.boolean(),
      parts: fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 4 }),
      // control frames interleaved after fragment i
      pings: fc.array(fc.uint8Array({ maxLength: 125 }), { maxLength: 2 }),
    }),
    fc.record({
      kind: fc.constant("control" as const),
      opcode: fc.constantFrom(0x9, 0xa),
      data: fc.uint8Array({ maxLength: 125 }),
    }),
  ),
  { maxLength: 8 },
);

type Item = typeof streamArb extends fc.Arbitrary<(infer T)[]> ? T : never;

function encodeStream(items: Item[]): { wire: Uint8Array; want: Event[] } {
  const frames: Uint8Array[] = [];
  const want: Event[] = [];
  for (const it of items) {
    if (it.kind === "control") {
      frames.push(frame(it.opcode, it.data));
      want.push({ kind: "control", opcode: it.opcode, data: [...it.data] });
      continue;
    }
    it.parts.forEach((part, i) => {
      const last = i === it.parts.length - 1;
      frames.push(frame(i === 0 ? (it.binary ? 0x2 : 0x1) : 0x0, part, { fin: last }));
      const ping = it.pings[i];
      if (!last && ping) {
        frames.push(frame(0x9, ping));
        want.push({ kind: "control", opcode: 0x9, data: [...ping] });
      }
    });
    want.push({ kind: "message", data: [...concat(...it.parts)], binary: it.binary });
  }
  return { wire: concat(...frames), want };
}

Deno.test("ws_frames: property: any split of a stream yields the same messages", () => {
  fc.assert(
    fc.property(streamArb, fc.array(fc.nat(), { maxLength: 20 }), (items, cuts) => {
      const { wire, want } = encodeStream(items);
      const whole = parser();
      whole.p.push(wire);
      assertEquals(whole.events, want);
      const split = parser();
      for (const piece of splitAt(wire, cuts)) split.p.push(piece);
      assertEquals(split.events, want);
      assertEquals(split.p.buffered, 0);
    }),
    { numRuns: 300 },
  );
});

Deno.test("ws_frames: a stream fed byte by byte equals the whole", () => {
  const { wire, want } = encodeStream([
    { kind: "message", binary: false, parts: [enc.encode("Hel"), enc.encode("lo")], pings: [] },
    { kind: "control", opcode: 0x9, data: enc.encode("p") },
    {
      kind: "message",
      binary: true,
      parts: [new Uint8Array(300).fill(1), new Uint8Array(0), new Uint8Array(70_000).fill(2)],
      pings: [new Uint8Array(0), enc.encode("mid")],
    },
  ]);
  const { p, events } = parser();
  for (let i = 0; i < wire.length; i++) p.push(wire.subarray(i, i + 1));
  assertEquals(events, want);
});

Deno.test("ws_frames: control frame rules", () => {
  const cases: [Uint8Array, string][] = [
    [frame(0x9, new Uint8Array(126)), "ping of 126 bytes"],
    [frame(0x8, new Uint8Array(126)), "close of 126 bytes"],
    [frame(0xa, new Uint8Array(200)), "pong of 200 bytes"],
    [frame(0x9, "x", { fin: false }), "fragmented ping"],
    [frame(0x8, closeBody(1000), { fin: false }), "fragmented close"],
    [frame(0xb, ""), "reserved control opcode 0xb"],
    [frame(0xf, ""), "reserved control opcode 0xf"],
    [frame(0x3, ""), "reserved data opcode 0x3"],
    [frame(0x7, ""), "reserved data opcode 0x7"],
  ];
  for (const [bytes, why] of cases) {
    const { p, events } = parser();
    const e = protocolError(() => p.push(bytes), why);
    assertEquals([e.code, e.tooBig], [WS_CLOSE.protocolError, false], why);
    assertEquals(events, [], `${why}: nothing delivered`);
  }
  // 125 bytes is the largest control payload, and it does not count against maxMessage.
  const { p, events } = parser(10);
  p.push(frame(0x9, new Uint8Array(125).fill(9)));
  p.push(frame(0x8, closeBody(1000, "x".repeat(123))));
  assertEquals(events.map((e) => [e.kind, e.data.length]), [["control", 125], ["control", 125]]);
});

Deno.test("ws_frames: RSV bits are refused at the header's first two bytes", () => {
  for (let rsv = 1; rsv <= 7; rsv++) {
    const { p } = parser();
    const f = frame(0x2, "abc", { rsv });
    const e = protocolError(() => p.push(f.subarray(0, 2)), `rsv ${rsv}`);
    assertEquals(e.code, WS_CLOSE.protocolError);
    assertOk(/RSV/.test(e.message));
  }
});

Deno.test("ws_frames: an unmasked client frame is refused at its first two bytes", () => {
  for (const [op, payload] of [[0x2, "data"], [0x9, ""], [0x1, "x".repeat(300)]] as const) {
    const { p } = parser();
    const f = frame(op, payload, { masked: false });
    // A 2-byte unmasked ping is all a peer may ever send: it must not wait for mask bytes.
    const e = protocolError(() => p.push(f.subarray(0, 2)), `unmasked opcode ${op}`);
    assertEquals(e.code, WS_CLOSE.protocolError);
    assertOk(/Unmasked/.test(e.message));
  }
  // Fed whole it fails the same.
  protocolError(() => parser().p.push(frame(0x2, "abc", { masked: false })), "unmasked whole");
});

Deno.test("ws_frames: continuation rules", () => {
  const cases: [Uint8Array[], string][] = [
    [[frame(0x0, "x")], "a continuation first"],
    [[frame(0x0, "x", { fin: false })], "a non-final continuation first"],
    [[frame(0x1, "a", { fin: false }), frame(0x1, "b")], "text inside a fragmented text"],
    [[frame(0x2, "a", { fin: false }), frame(0x1, "b")], "text inside a fragmented binary"],
    [[frame(0x1, "a", { fin: false }), frame(0x2, "b", { fin: false })], "binary inside text"],
    [[frame(0x1, "a"), frame(0x0, "b")], "a continuation after a complete message"],
    [[frame(0x1, "a", { fin: false }), frame(0x0, "b"), frame(0x0, "c")], "one too many"],
  ];
  for (const [frames, why] of cases) {
    const { p } = parser();
    const e = protocolError(() => frames.forEach((f) => p.push(f)), why);
    assertEquals(e.code, WS_CLOSE.protocolError, why);
  }
  // Fragments: opcode from the first, data in order, empty fragments allowed.
  const { p, events } = parser();
  p.push(frame(0x2, "ab", { fin: false }));
  p.push(frame(0x0, "", { fin: false }));
  p.push(frame(0xa, "pong"));
  p.push(frame(0x0, "cd"));
  p.push(frame(0x1, "", { fin: false }));
  p.push(frame(0x0, ""));
  assertEquals(events, [
    { kind: "control", opcode: 0xa, data: [...enc.encode("pong")] },
    { kind: "message", data: [...enc.encode("abcd")], binary: true },
    { kind: "message", data: [], binary: false },
  ]);
});

Deno.test("ws_frames: nothing after a close frame is parsed, even in the same chunk", () => {
  const { p, events } = parser();
  p.push(concat(frame(0x1, "before"), frame(0x8, closeBody(1000)), frame(0x1, "after")));
  p.push(frame(0x1, "later"));
  p.push(new Uint8Array([0xff, 0xff])); // not even an error
  assertEquals(events, [
    { kind: "message", data: [...enc.encode("before")], binary: false },
    { kind: "control", opcode: 0x8, data: [...closeBody(1000)] },
  ]);
});

Deno.test("ws_frames: a 64-bit length with its top bit set is refused", () => {
  const { p } = parser();
  const h = hex("82 ff 80 00 00 00 00 00 00 01 01 02 03 04");
  const e = protocolError(() => p.push(h), "MSB");
  assertEquals([e.code, e.tooBig], [WS_CLOSE.protocolError, false]);
});

Deno.test("ws_frames: maxMessage is enforced from the header alone, before any allocation", () => {
  for (const claimed of [2 ** 30, 2 ** 40, 2 ** 53, 100 * 1024 * 1024, 1025, 65536]) {
    const { p, events } = parser(1024);
    // Only the header (2 + 8 + 4 mask bytes) arrives: no payload has been sent at all.
    const header = frame(0x2, new Uint8Array(0), { length: claimed });
    const before = Deno.memoryUsage().rss;
    const e = protocolError(() => p.push(header), `claimed ${claimed}`);
    assertEquals([e.code, e.tooBig], [WS_CLOSE.tooBig, true], `claimed ${claimed}`);
    assertOk(new RegExp(`exceeds 1024`).test(e.message), e.message);
    assertEquals(p.buffered, 0, "nothing held");
    assertEquals(events, []);
    // A 1 GiB Uint8Array would show; allow generous noise.
    assertOk(Deno.memoryUsage().rss - before < 64 * 1024 * 1024, "no allocation");
  }
  // The header may arrive in pieces: it throws once its length bytes and mask are in.
  const { p } = parser(1024);
  const header = frame(0x2, new Uint8Array(0), { length: 2 ** 30 });
  for (let i = 0; i < header.length - 1; i++) p.push(header.subarray(i, i + 1));
  assertEquals(p.buffered, 0);
  protocolError(() => p.push(header.subarray(header.length - 1)), "the last header byte");
});

Deno.test("ws_frames: maxMessage boundary, fragments counted together, changes take effect", () => {
  // Exactly the limit passes, one byte more fails (16-bit and 64-bit lengths alike).
  for (const max of [125, 126, 1000, 65536]) {
    const ok = parser(max);
    ok.p.push(frame(0x2, new Uint8Array(max)));
    assertEquals(ok.events.length, 1);
    const e = protocolError(() => parser(max).p.push(frame(0x2, new Uint8Array(max + 1))), "+1");
    assertOk(e.tooBig);
  }
  // Fragments: 600 + 424 = 1024 passes; 600 + 425 fails at the second header, with 600 held.
  const a = parser(1024);
  a.p.push(frame(0x1, new Uint8Array(600), { fin: false }));
  a.p.push(frame(0x0, new Uint8Array(424)));
  assertEquals(a.events.length, 1);
  const b = parser(1024);
  b.p.push(frame(0x1, new Uint8Array(600), { fin: false }));
  assertEquals(b.p.buffered, 600);
  const second = frame(0x0, new Uint8Array(425));
  const e = protocolError(() => b.p.push(second.subarray(0, 8)), "over across fragments");
  assertEquals([e.code, e.tooBig], [WS_CLOSE.tooBig, true]);
  assertOk(/1025 bytes exceeds 1024/.test(e.message), e.message);
  assertEquals(b.p.buffered, 600, "the second fragment was not allocated");
  // Many tiny fragments are counted too.
  const c = parser(10);
  for (let i = 0; i < 10; i++) c.p.push(frame(i === 0 ? 0x2 : 0x0, "x", { fin: false }));
  protocolError(() => c.p.push(frame(0x0, "x")), "the 11th byte");
  // maxMessage may change between frames: raised, then lowered.
  const d = parser(10);
  d.p.push(frame(0x2, new Uint8Array(10)));
  d.p.maxMessage = 100;
  d.p.push(frame(0x2, new Uint8Array(100)));
  d.p.maxMessage = 5;
  d.p.push(frame(0x2, new Uint8Array(5)));
  protocolError(() => d.p.push(frame(0x2, new Uint8Array(6))), "lowered");
  assertEquals(d.events.map((e) => e.data.length), [10, 100, 5]);
});

Deno.test("ws_frames: buffered counts the message being received", () => {
  const { p, events } = parser(1 << 20);
  const f = frame(0x2, new Uint8Array(1000).fill(5));
  p.push(f.subarray(0, 100));
  assertEquals(p.buffered, 1000, "the frame's payload is allocated at its header");
  p.push(f.subarray(100));
  assertEquals(p.buffered, 0);
  assertEquals(events.length, 1);
});

Deno.test("ws_frames: decodeText is strict UTF-8", () => {
  assertEquals(decodeText(enc.encode("héllo ✓ 𝄞")), "héllo ✓ 𝄞");
  assertEquals(decodeText(new Uint8Array(0)), "");
  for (const bad of ["ff", "c3", "ed a0 80", "c0 80", "f4 90 80 80", "e2 82"]) {
    const e = protocolError(() => decodeText(hex(bad)), bad);
    assertEquals(e.code, WS_CLOSE.invalidData);
  }
});

Deno.test("ws_frames: close payload parse table", () => {
  const good: [Uint8Array, number, string][] = [
    [new Uint8Array(0), 1005, ""],
    [closeBody(1000), 1000, ""],
    [closeBody(1000, "bye"), 1000, "bye"],
    [closeBody(1001), 1001, ""],
    [closeBody(1002), 1002, ""],
    [closeBody(1003), 1003, ""],
    [closeBody(1007), 1007, ""],
    [closeBody(1009, "too big"), 1009, "too big"],
    [closeBody(1011), 1011, ""],
    [closeBody(1014), 1014, ""],
    [closeBody(3000), 3000, ""],
    [closeBody(4000, "app ✓"), 4000, "app ✓"],
    [closeBody(4999), 4999, ""],
  ];
  for (const [p, code, reason] of good) assertEquals(parseClosePayload(p), { code, reason });
  const bad: [Uint8Array, number][] = [
    [new Uint8Array([3]), WS_CLOSE.protocolError],
    ...[0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535].map(
      (c): [Uint8Array, number] => [closeBody(c), WS_CLOSE.protocolError],
    ),
    [concat(closeBody(1000), hex("ff fe")), WS_CLOSE.invalidData],
    [concat(closeBody(1000), hex("e2 82")), WS_CLOSE.invalidData],
  ];
  for (const [p, code] of bad) {
    const e = protocolError(() => parseClosePayload(p), `close payload ${[...p]}`);
    assertEquals(e.code, code, `close payload ${[...p]}: ${e.message}`);
  }
});

Deno.test("ws_frames: closePayload encodes, and cuts long reasons on a character boundary", () => {
  assertEquals([...closePayload(1000, "")], [0x03, 0xe8]);
  assertEquals([...closePayload(4001, "ok")], [0x0f, 0xa1, 0x6f, 0x6b]);
  assertEquals(closePayload(1000, "a".repeat(200)).length, 125, "fits a control frame");
  // 62 two-byte characters are 124 bytes: the cut must not split the 62nd.
  for (
    const reason of ["é".repeat(62), "a" + "€".repeat(41), "𝄞".repeat(31), "ab" + "𝄞".repeat(31)]
  ) {
    const p = closePayload(1000, reason);
    assertOk(p.length <= 125, `${p.length} bytes`);
    const back = parseClosePayload(p); // throws on a split character
    assertOk(reason.startsWith(back.reason) && back.reason.length > 0, back.reason);
  }
  fc.assert(
    fc.property(
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.integer({ min: 3000, max: 4999 }),
      (r, code) => {
        const p = closePayload(code, r);
        assertOk(p.length <= 125);
        const back = parseClosePayload(p);
        assertEquals(back.code, code);
        const whole = enc.encode(r), kept = enc.encode(back.reason);
        assertEquals([...whole.subarray(0, kept.length)], [...kept], "a prefix of the reason");
      },
    ),
    { numRuns: 200 },
  );
});
