/**
 * Attack: a frame header declares a huge body length (0xFFFFFFFF, or 70000 where 65556 is the
 * most a frame may carry) inside a small record, hoping the parser allocates or waits for that
 * much. The length must be refused first, with an error naming it, and the link closed.
 */
import { assertEquals, assertOk, assertThrows } from "../_assert.ts";
import { FRAME_HEADER_LEN, MAX_FRAME_BODY, MAX_WIRE_MESSAGE } from "../../protocol/constants.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { parseFrames, type Sender } from "../../protocol/frames.ts";
import { connectClient } from "../harness.ts";
import { linkEnd, RawClient, settled, startTestRelay } from "./_helpers.ts";

/** A record: one frame header declaring `len`, then `bodyBytes` bytes. */
function record(type: number, len: number, bodyBytes: number): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_LEN + bodyBytes);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, len);
  return out;
}

function parseError(rec: Uint8Array, sender: Sender): ProtocolError {
  const e = assertThrows(() => parseFrames(rec, sender));
  assertOk(e instanceof ProtocolError, `a ProtocolError, got ${e}`);
  return e as ProtocolError;
}

Deno.test("a declared length above the frame limit is refused by name, whatever the type", () => {
  assertEquals(MAX_FRAME_BODY, 65556);
  const cases: [type: number, sender: Sender][] = [
    [0x01, "daemon"], // SEND
    [0x02, "daemon"], // WATCH
    [0x40, "daemon"], // an extension type, which would otherwise be skipped
    [0x82, "relay"], // DELIVER
    [0xc0, "relay"], // a relay extension type
  ];
  for (const [type, sender] of cases) {
    for (const len of [0xffffffff, 70000, MAX_FRAME_BODY + 1]) {
      const e = parseError(record(type, len, 16), sender);
      assertEquals(e.code, "bad_frame");
      assertOk(
        e.message.includes(`length ${len} exceeds ${MAX_FRAME_BODY}`),
        `type 0x${type.toString(16)}: "${e.message}" names ${len} and the limit`,
      );
    }
  }
});

Deno.test("a declared length beyond the record's end is refused, even after a good frame", () => {
  const good = record(0x02, 2 + 16, 2 + 16);
  new DataView(good.buffer).setUint16(5, 1); // WATCH with one id
  assertEquals(parseFrames(good, "daemon").length, 1, "control: the good frame parses");
  const bad = new Uint8Array([...good, ...record(0x01, 1000, 10)]);
  const e = parseError(bad, "daemon");
  assertEquals(e.code, "bad_frame");
  assertOk(e.message.includes("length 1000 exceeds the 10 bytes left"), e.message);
  const truncated = parseError(Uint8Array.of(0x01, 0, 0), "daemon");
  assertOk(truncated.message.includes("truncated header"), truncated.message);
});

Deno.test("end to end: a huge declared length closes the link with bad_frame", async () => {
  const r = await startTestRelay();
  try {
    for (const len of [0xffffffff, 70000]) {
      const c = await connectClient(r.address);
      c.pushRawFrame(record(0x01, len, 20));
      assertEquals((await linkEnd(c)).code, "bad_frame", `length ${len}`);
    }
    assertEquals(r.counter("link_errors_total"), 2);
    assertEquals(r.counter("frames_received_total"), 0, "no frame was taken from those records");
    // The relay still serves everyone else.
    const a = await connectClient(r.address);
    const b = await connectClient(r.address);
    assertEquals((await a.send(b.id, Uint8Array.of(1))).status, "delivered");
    await a.close();
    await b.close();
  } finally {
    await r.close();
  }
});

Deno.test("end to end: an oversized record or handshake message is refused", async () => {
  const r = await startTestRelay({ limits: { maxEnvelope: 1000 } });
  try {
    const c = await connectClient(r.address);
    c.sendRawWire(new Uint8Array(MAX_WIRE_MESSAGE + 1));
    assertEquals((await linkEnd(c)).code, "too_large");

    const raw = await RawClient.open(r.url);
    raw.send(new Uint8Array(70000).fill(1)); // message 1 of 70000 bytes
    assertEquals(await raw.ended(), { code: 4012, reason: "auth_failed" });
    assertEquals(raw.received.length, 0);

    // An envelope above the relay's limit (but within the frame limit) is refused, not forwarded.
    const a = await connectClient(r.address);
    const b = await connectClient(r.address, { onDeliver: () => assertOk(false, "delivered") });
    assertEquals(await a.send(b.id, new Uint8Array(1001)), {
      status: "rejected",
      code: "too_large",
    });
    assertEquals((await a.send(b.id, new Uint8Array(1000))).status, "delivered");
    await a.close();
    await b.close();
    await settled(r);
  } finally {
    await r.close();
  }
});
