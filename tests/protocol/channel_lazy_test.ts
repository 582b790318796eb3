/**
 * The record layer's copy-saving paths: lazy frames (written into their record when it is
 * assembled), records sealed as parts (`writeParts`), and the nonce buffers reused per record.
 * Each must put the same bytes on the wire as the plain path, and no lazy frame may see a change
 * made to what it views after it was pushed once its record could wait (behind a record sealed
 * off-thread).
 */
import { assertEquals, assertThrows } from "../_assert.ts";
import { Channel, lazyAck, lazyDeliver, type LazyFrame } from "../../protocol/channel.ts";
import { ID_LEN, MAX_ENVELOPE } from "../../protocol/constants.ts";
import { FrameQueue, RecordCounters } from "../../protocol/_channel_records.ts";
import { encodeFrame, type Frame } from "../../protocol/frames.ts";
import { aesGcmNonce } from "../../protocol/noise.ts";
import { linkKeys } from "./_link_keys.ts";

const from = new Uint8Array(ID_LEN).map((_, i) => i + 1);
const bytesOf = (f: LazyFrame) => {
  const out = new Uint8Array(f.length + 3);
  f.write(out, 3);
  return out.subarray(3);
};

Deno.test("lazy frames: DELIVER and ACK are the bytes encodeFrame makes", () => {
  for (const size of [1, 2, 300, MAX_ENVELOPE]) {
    const envelope = new Uint8Array(size).map((_, i) => (i * 7) & 0xff);
    assertEquals(
      bytesOf(lazyDeliver(from, envelope)),
      encodeFrame({ type: "deliver", from, envelope }),
      `deliver of ${size} bytes`,
    );
  }
  for (const upto of [0, 1, 0x01020304, 2 ** 32 - 1]) {
    assertEquals(bytesOf(lazyAck(upto)), encodeFrame({ type: "ack", upto }), `ack ${upto}`);
  }
  assertThrows(
    () => lazyDeliver(new Uint8Array(15), new Uint8Array(1)),
    (e) => e instanceof TypeError && /16 bytes/.test(e.message),
  );
});

Deno.test("frame queue: lazy and encoded frames make the same record; materialize copies", () => {
  const env = new Uint8Array(50).fill(5);
  const encoded = [
    encodeFrame({ type: "presence", id: from, online: true }),
    encodeFrame({ type: "deliver", from, envelope: env }),
    encodeFrame({ type: "ack", upto: 9 }),
  ];
  const q = new FrameQueue();
  q.push(encoded[0]!);
  q.push(lazyDeliver(from, env));
  q.push(lazyAck(9));
  assertEquals(q.bytes, encoded.reduce((n, f) => n + f.length, 0));
  const whole = new Uint8Array(q.bytes);
  let o = 0;
  for (const f of encoded) whole.set(f, (o += f.length) - f.length);
  assertEquals(q.take(), whole);
  q.push(lazyDeliver(from, env)); // alone: still bytes of its own
  assertEquals(q.take(), encoded[1]);
  q.push(lazyDeliver(from, env));
  q.materialize();
  env.fill(6); // after materialize, the queue holds a copy
  assertEquals(q.take(), encoded[1]);
});

Deno.test("record counters: the reused nonce buffer holds each record's nonce in turn", () => {
  const c = new RecordCounters(2 ** 32 - 1, 7, 2 ** 40, 2 ** 50);
  assertEquals(c.nextSendNonce(), aesGcmNonce(2 ** 32 - 1));
  assertEquals(c.nextSendNonce(), aesGcmNonce(2 ** 32));
  assertEquals(c.nextRecvNonce(), aesGcmNonce(7));
  assertEquals(c.nextRecvNonce(), aesGcmNonce(8));
});

/** A relay-side channel (sealing as parts when `parts`) wired to a daemon-side one. */
async function pair(parts: boolean) {
  const { keys, login } = await linkKeys();
  const got: Frame[] = [];
  const wire: Uint8Array[] = [];
  const errors: unknown[] = [];
  const daemon = new Channel({
    ...keys,
    peer: "relay",
    version: 2,
    write: () => {},
    onFrames: (f) => got.push(...f),
    onError: (e) => errors.push(e),
  });
  const take = (r: Uint8Array) => {
    wire.push(r);
    daemon.receive(r);
  };
  const relay = new Channel({
    send: login.send,
    recv: login.recv,
    peer: "daemon",
    version: 2,
    write: take,
    ...(parts
      ? {
        writeParts: (ps: readonly Uint8Array[], length: number) => {
          const r = new Uint8Array(length);
          let o = 0;
          for (const p of ps) r.set(p, (o += p.length) - p.length);
          assertEquals(o, length, "the parts add up to the length given");
          take(r);
        },
      }
      : {}),
    onFrames: () => {},
    onError: (e) => errors.push(e),
  });
  return { relay, daemon, got, wire, errors };
}

Deno.test("channel: records sealed as parts are the bytes of records sealed whole", async () => {
  const run = async (parts: boolean) => {
    const p = await pair(parts);
    for (let i = 0; i < 3; i++) {
      p.relay.push(lazyDeliver(from, new Uint8Array(100 + i).fill(i)));
      p.relay.push(encodeFrame({ type: "presence", id: from, online: i % 2 === 0 }));
      await p.relay.drained();
    }
    await p.daemon.received();
    assertEquals(p.errors, []);
    return p;
  };
  const [plain, parted] = [await run(false), await run(true)];
  assertEquals(parted.got, plain.got);
  assertEquals(parted.wire.map((r) => r.length), plain.wire.map((r) => r.length));
  assertEquals(parted.relay.stats, { sent: 3, opened: 0 });
});

Deno.test("channel: lazy frames behind a record sealed off-thread hold no views", async () => {
  const p = await pair(true);
  const big = (n: number) =>
    encodeFrame({ type: "deliver", from, envelope: new Uint8Array(MAX_ENVELOPE).fill(n) });
  const left = new Uint8Array(10).fill(1); // queued behind three big frames (MAX_RECORD)
  const during = new Uint8Array(10).fill(2); // pushed while the first record is being sealed
  for (let i = 0; i < 4; i++) p.relay.push(big(i));
  p.relay.push(lazyDeliver(from, left));
  await Promise.resolve(); // the flush starts: the first record goes to WebCrypto
  p.relay.push(lazyDeliver(from, during));
  left.fill(0xee);
  during.fill(0xee);
  await p.relay.drained();
  await p.daemon.received();
  assertEquals(p.errors, []);
  const small = p.got.flatMap((f) =>
    f.type === "deliver" && f.envelope.length === 10 ? [f.envelope] : []
  );
  assertEquals(small, [new Uint8Array(10).fill(1), new Uint8Array(10).fill(2)]);
  assertEquals(p.got.length, 6);
});
