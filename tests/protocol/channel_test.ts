import { assertEquals, assertOk } from "../_assert.ts";
import { toHex } from "../../protocol/bytes.ts";
import { Channel } from "../../protocol/channel.ts";
import {
  LINK_REKEY_AFTER,
  LINK_REKEY_AFTER_BYTES,
  MAX_ENVELOPE,
  MAX_RECORD,
  MAX_WIRE_MESSAGE,
} from "../../protocol/constants.ts";
import { generateDh, randomSecret, signingKeyFromSeed } from "../../protocol/_crypto.ts";
import { type ErrorCode, type ProtocolError } from "../../protocol/errors.ts";
import { encodeFrame, type Frame, type Sender } from "../../protocol/frames.ts";
import { LinkInitiator, LinkResponder } from "../../protocol/link_handshake.ts";
import { aesGcmNonce, type CipherState } from "../../protocol/noise.ts";
import { linkKeys } from "./_link_keys.ts";

/** One end of a link under test: its channel, what it opened, how it failed. */
interface End {
  ch: Channel;
  frames: Frame[];
  errors: ProtocolError[];
  /** Sealed records this end wrote, in order. */
  wire: Uint8Array[];
  /** Times the receive backlog was cleared. */
  cleared: number;
  /** Resolves with the first error. */
  failed: Promise<ProtocolError>;
  /** Resolves once `n` frames were opened (or the channel failed). */
  opened(n: number): Promise<void>;
}

interface LinkOptions {
  /** Hand each record one end writes to the other end. */
  wired?: boolean;
  daemonRekey?: number;
  relayRekey?: number;
  /** The relay end's frame handler throws. */
  relayThrows?: boolean;
  /** The daemon side's byte limit (rekeyAfterBytes). */
  daemonRekeyBytes?: number;
}

/** Runs a real XK handshake and builds a daemon channel and a relay channel on its keys. */
async function link(opts: LinkOptions = {}): Promise<{ daemon: End; relay: End }> {
  const { keys, login } = await linkKeys();
  const ends: End[] = [];
  const make = (
    k: { send: CipherState; recv: CipherState },
    peer: Sender,
    rekeyAfter?: number,
    rekeyAfterBytes?: number,
  ) => {
    const failed = Promise.withResolvers<ProtocolError>();
    let waiter: { n: number; resolve: () => void } | undefined;
    const wake = () => {
      if (waiter && (end.frames.length >= waiter.n || end.errors.length > 0)) waiter.resolve();
    };
    const end: End = {
      frames: [],
      errors: [],
      wire: [],
      cleared: 0,
      failed: failed.promise,
      opened(n) {
        const p = Promise.withResolvers<void>();
        waiter = { n, resolve: p.resolve };
        wake();
        return p.promise;
      },
      ch: new Channel({
        send: k.send,
        recv: k.recv,
        peer,
        rekeyAfter,
        rekeyAfterBytes,
        write: (r) => {
          end.wire.push(r);
          if (opts.wired) ends[peer === "relay" ? 1 : 0]!.ch.receive(r);
        },
        onFrames: (f) => {
          if (peer === "daemon" && opts.relayThrows) throw new Error("handler broke");
          end.frames.push(...f);
          wake();
        },
        onError: (e) => {
          end.errors.push(e);
          failed.resolve(e);
          wake();
        },
        onBacklogCleared: () => end.cleared++,
      }),
    };
    return end;
  };
  ends.push(make(keys, "relay", opts.daemonRekey, opts.daemonRekeyBytes));
  ends.push(make(login, "daemon", opts.relayRekey));
  return { daemon: ends[0]!, relay: ends[1]! };
}

/** Lets queued microtasks (the record chain's bookkeeping) run; no timers involved. */
async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 100; i++) await Promise.resolve();
}

/**
 * Hands records to `end` and waits until every decryption they started has settled and the
 * record chain has run. Watches WebCrypto's decrypt to know when the work is done, so that
 * "nothing further is delivered" is checked after the work, not during it.
 */
async function receiveAll(end: End, records: Uint8Array[]): Promise<void> {
  const subtle = crypto.subtle;
  const real = subtle.decrypt;
  const started: Promise<unknown>[] = [];
  subtle.decrypt = (...args: Parameters<SubtleCrypto["decrypt"]>) => {
    const p = real.apply(subtle, args);
    started.push(p.catch(() => {}));
    return p;
  };
  try {
    for (const r of records) end.ch.receive(r);
  } finally {
    subtle.decrypt = real;
  }
  await Promise.all(started);
  await flushMicrotasks();
}

const to = new Uint8Array(16).fill(1);
const send = (seq: number, size = 1) =>
  encodeFrame({ type: "send", seq, to, envelope: new Uint8Array(size).fill(seq & 0xff) });
const seqs = (end: End) => end.frames.map((f) => (f.type === "send" ? f.seq : -1));

Deno.test("channel: the AES-GCM nonce is 4 zero bytes and a 64-bit big-endian counter", () => {
  assertEquals([...aesGcmNonce(0)], new Array(12).fill(0));
  assertEquals([...aesGcmNonce(1)], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assertEquals([...aesGcmNonce(0x01020304)], [0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
  assertEquals([...aesGcmNonce(2 ** 32)], [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
  assertEquals(toHex(aesGcmNonce(2 ** 53 - 1)), "00000000001fffffffffffff");
});

Deno.test("channel: frames arrive in push order, both ways", async () => {
  const { daemon, relay } = await link({ wired: true });
  for (let i = 0; i < 300; i++) {
    daemon.ch.push(send(i, 1 + (i % 50)));
    if (i % 7 === 0) await daemon.ch.drained(); // mix single and coalesced records
  }
  await relay.opened(300);
  assertEquals(seqs(relay), Array.from({ length: 300 }, (_, i) => i));
  for (let i = 0; i < 50; i++) {
    relay.ch.push(encodeFrame({ type: "presence", id: to, online: i % 2 === 0 }));
  }
  await daemon.opened(50);
  assertEquals(
    daemon.frames.map((f) => f.type === "presence" && f.online),
    Array.from({ length: 50 }, (_, i) => i % 2 === 0),
  );
  assertEquals(daemon.errors.length + relay.errors.length, 0);
  assertEquals(relay.ch.stats.opened, daemon.ch.stats.sent);
});

Deno.test("channel: frames pushed in one tick coalesce into one record", async () => {
  const { daemon, relay } = await link({ wired: true });
  for (let i = 0; i < 200; i++) daemon.ch.push(send(i));
  assertEquals(daemon.ch.queuedBytes, 200 * 26);
  await daemon.ch.drained();
  assertEquals(daemon.ch.stats.sent, 1, "one AES-GCM call for 200 frames");
  assertEquals(daemon.wire[0]!.length, 200 * 26 + 16, "frames back to back, plus the tag");
  assertEquals(daemon.ch.queuedBytes, 0);
  await relay.opened(200);
  assertEquals(relay.ch.stats.opened, 1);
  assertEquals(seqs(relay), Array.from({ length: 200 }, (_, i) => i));
});

Deno.test("channel: records hold whole frames up to MAX_RECORD", async () => {
  const { daemon, relay } = await link({ wired: true });
  const big = send(0, MAX_ENVELOPE).length; // 65557 bytes: three fit in a record, four do not
  for (let i = 0; i < 10; i++) daemon.ch.push(send(i, MAX_ENVELOPE));
  await daemon.ch.drained();
  assertEquals(daemon.ch.stats.sent, 4);
  assertEquals(daemon.wire.map((r) => r.length - 16), [3 * big, 3 * big, 3 * big, big]);
  assertOk(daemon.wire.every((r) => r.length <= MAX_WIRE_MESSAGE && r.length - 16 <= MAX_RECORD));
  await relay.opened(10);
  assertEquals(seqs(relay), Array.from({ length: 10 }, (_, i) => i));
});

/** Two records sealed by the daemon, collected but not delivered. */
async function twoRecords() {
  const l = await link();
  l.daemon.ch.push(send(0));
  await l.daemon.ch.drained();
  l.daemon.ch.push(send(1));
  await l.daemon.ch.drained();
  assertEquals(l.daemon.wire.length, 2);
  return { ...l, r0: l.daemon.wire[0]!, r1: l.daemon.wire[1]! };
}

async function expectFailure(relay: End, code: ErrorCode, frames: number[]): Promise<void> {
  const e = await relay.failed;
  assertEquals(e.code, code, e.message);
  await flushMicrotasks();
  assertOk(relay.ch.failed);
  assertEquals(relay.errors.length, 1, "onError is called once");
  assertEquals(seqs(relay), frames, "frames delivered");
}

const tamper = (r: Uint8Array, i: number) => {
  const t = r.slice();
  t[i]! ^= 0x01;
  return t;
};

const BAD_ORDERS: [string, (r0: Uint8Array, r1: Uint8Array) => Uint8Array[], number[]][] = [
  ["replayed", (r0, r1) => [r0, r0, r1], [0]],
  ["reordered", (r0, r1) => [r1, r0], []],
  ["dropped", (_r0, r1) => [r1], []],
  ["tampered body", (r0, r1) => [tamper(r0, 0), r1], []],
  ["tampered tag", (r0, r1) => [r0, tamper(r1, r1.length - 1)], [0]],
  ["truncated", (r0, r1) => [r0.subarray(0, r0.length - 1), r1], []],
  ["too short for a tag", (r0, r1) => [r0.subarray(0, 16), r1], []],
];

for (const [name, order, delivered] of BAD_ORDERS) {
  Deno.test(`channel: a ${name} record fails the link and nothing further is delivered`, async () => {
    const { relay, r0, r1 } = await twoRecords();
    await receiveAll(relay, order(r0, r1)); // all queued before any is opened
    await expectFailure(relay, "auth_failed", delivered);
    await receiveAll(relay, [r0, r1]);
    assertEquals(seqs(relay), delivered, "a failed channel opens nothing");
  });
}

Deno.test("channel: an oversized record is too_large, a failed channel sends nothing", async () => {
  const { daemon, relay } = await twoRecords();
  relay.ch.receive(new Uint8Array(MAX_WIRE_MESSAGE + 1));
  await expectFailure(relay, "too_large", []);
  relay.ch.push(send(5));
  await relay.ch.drained();
  assertEquals(relay.wire.length, 0);
  assertEquals(daemon.errors.length, 0);
});

Deno.test("channel: a sound record with a bad frame fails with the frame's error", async () => {
  const cases: [Uint8Array, ErrorCode, string][] = [
    [
      encodeFrame({ type: "presence", id: to, online: true }),
      "bad_frame",
      "cannot be sent by the daemon",
    ],
    [Uint8Array.of(0x10, 0, 0, 0, 0), "unknown_frame", "unknown type 0x10"],
    [Uint8Array.of(0x01, 0, 0, 0), "bad_frame", "truncated header"],
  ];
  for (const [frame, code, msg] of cases) {
    const { daemon, relay } = await link({ wired: true });
    daemon.ch.push(send(0));
    daemon.ch.push(frame); // same record: the valid first frame is not delivered either
    const e = await relay.failed;
    assertEquals(e.code, code);
    assertOk(e.message.includes(msg), e.message);
    assertEquals(relay.frames, []);
    assertEquals(relay.ch.stats.opened, 0);
  }
});

Deno.test("channel: a throwing frame handler fails the channel as internal", async () => {
  const { daemon, relay } = await link({ wired: true, relayThrows: true });
  daemon.ch.push(send(0));
  const e = await relay.failed;
  assertEquals([e.code, e.message], ["internal", "Frame handler failed: handler broke"]);
  assertOk(relay.ch.failed);
});

Deno.test("channel: the sender stops with rekey after rekeyAfter records", async () => {
  const { daemon, relay } = await link({ wired: true, daemonRekey: 3 });
  for (let i = 0; i < 3; i++) {
    daemon.ch.push(send(i));
    await daemon.ch.drained();
  }
  assertEquals(daemon.errors, []);
  daemon.ch.push(send(3));
  const e = await daemon.failed;
  assertEquals([e.code, e.message], ["rekey", "Link key due for renewal"]);
  assertEquals(daemon.ch.stats.sent, 3);
  assertEquals(daemon.wire.length, 3, "the record over the limit is never sealed");
  await relay.opened(3);
  assertEquals(seqs(relay), [0, 1, 2]);
});

Deno.test("channel: the receiver allows 1024 records of slack past rekeyAfter, then fails", async () => {
  const { daemon, relay } = await link({ wired: true, relayRekey: 0 });
  for (let i = 0; i < 1024; i++) {
    daemon.ch.push(send(i));
    await daemon.ch.drained();
  }
  await relay.opened(1024);
  assertEquals(relay.errors, []);
  daemon.ch.push(send(1024));
  await daemon.ch.drained();
  const e = await relay.failed;
  assertEquals([e.code, e.message], ["rekey", "Peer did not renew the link key"]);
  assertEquals(relay.frames.length, 1024);
});

Deno.test("channel: the sender stops with rekey once rekeyAfterBytes of records are out", async () => {
  // One SEND of a 1000-byte envelope: a record of 5 + 20 + 1000 + 16 bytes on the wire.
  const recordLen = 5 + 20 + 1000 + 16;
  const { daemon, relay } = await link({ wired: true, daemonRekeyBytes: 2 * recordLen + 1 });
  for (let i = 0; i < 3; i++) {
    daemon.ch.push(send(i, 1000));
    await daemon.ch.drained();
  }
  assertEquals(daemon.errors, [], "three records: the third starts below the limit");
  daemon.ch.push(send(3, 1000));
  const e = await daemon.failed;
  assertEquals([e.code, e.message], ["rekey", "Link key due for renewal"]);
  assertEquals(daemon.wire.map((r) => r.length), [recordLen, recordLen, recordLen]);
  await relay.opened(3);
});

Deno.test("rekey limits keep AES-GCM's distinguishing advantage at or below 2^-60 per key", () => {
  // (blocks + records + 1)² / 2^129 (CFRG AEAD limits), with blocks = bytes / 16.
  const blocks = LINK_REKEY_AFTER_BYTES / 16;
  const log2 = 2 * Math.log2(blocks + LINK_REKEY_AFTER + 1) - 129;
  assertOk(log2 <= -60, `2^${log2.toFixed(2)}`);
  assertEquals(Math.round(log2), -63);
  // Without the byte limit, 2^24 records of 256 KiB would give 2^-53.
  const old = 2 * Math.log2(LINK_REKEY_AFTER * (MAX_RECORD / 16) + LINK_REKEY_AFTER + 1) - 129;
  assertEquals(Math.round(old), -53);
});

/** A daemon → relay pair whose relay channel has a trailer (version 2's ACK). */
async function trailerPair(trailer: () => Uint8Array | undefined) {
  const relayKey = await generateDh();
  const init = new LinkInitiator(
    relayKey.publicKey,
    await generateDh(),
    await signingKeyFromSeed(randomSecret()),
  );
  const resp = new LinkResponder(relayKey);
  const { msg3, keys } = await init.finish(await resp.accept(await init.start()));
  const login = await resp.complete(msg3);
  const got: Frame[][] = [];
  const daemon = new Channel({
    send: keys.send,
    recv: keys.recv,
    peer: "relay",
    version: keys.version,
    write: () => {},
    onFrames: (f) => got.push(f),
    onError: (e) => got.push([{ type: "error", code: e.code, reason: e.message }]),
  });
  const relay = new Channel({
    send: login.send,
    recv: login.recv,
    peer: "daemon",
    version: login.version,
    trailer,
    write: (r) => daemon.receive(r),
    onFrames: () => {},
    onError: () => {},
  });
  return { relay, got };
}

Deno.test("channel: the trailer ends each record, and kick() sends it alone", async () => {
  let upto = 0;
  let owed = false;
  const { relay, got } = await trailerPair(() => {
    if (!owed) return undefined;
    owed = false;
    return encodeFrame({ type: "ack", upto });
  });
  owed = true;
  upto = 7;
  relay.push(encodeFrame({ type: "presence", id: to, online: true }));
  relay.push(encodeFrame({ type: "result", seq: 6, status: "offline", code: null }));
  await relay.drained();
  assertEquals(got.map((r) => r.map((f) => f.type)), [["presence", "result", "ack"]]);
  relay.kick(); // nothing owed: no record
  await flushMicrotasks();
  assertEquals(got.length, 1);
  owed = true;
  upto = 9;
  relay.kick();
  await relay.drained();
  await flushMicrotasks();
  assertEquals(got[1], [{ type: "ack", upto: 9 }]);
});

Deno.test("channel: small records opened at once stay behind a large one being opened", async () => {
  const { daemon, relay } = await link({ wired: true });
  daemon.ch.push(send(1, MAX_ENVELOPE)); // over SYNC_RECORD_MAX: WebCrypto, asynchronous
  await daemon.ch.drained();
  daemon.ch.push(send(2));
  await daemon.ch.drained();
  daemon.ch.push(send(3));
  await daemon.ch.drained();
  await relay.opened(3);
  assertEquals(seqs(relay), [1, 2, 3]);
  assertEquals(relay.ch.stats.opened, 3);
});

Deno.test("channel: records waiting to be opened are counted until handed over", async () => {
  const { daemon, relay } = await link();
  for (let i = 0; i < 3; i++) {
    daemon.ch.push(send(i, MAX_ENVELOPE)); // large: opened by WebCrypto, asynchronously
    await daemon.ch.drained();
  }
  daemon.ch.push(send(3));
  await daemon.ch.drained();
  assertEquals(daemon.wire.length, 4);
  for (const r of daemon.wire) relay.ch.receive(r);
  const waiting = daemon.wire.reduce((n, r) => n + r.length, 0);
  assertEquals(relay.ch.receiveBacklog, waiting, "all four wait (the small one behind the rest)");
  await relay.opened(4);
  await flushMicrotasks();
  assertEquals([relay.ch.receiveBacklog, relay.cleared], [0, 1]);
  assertEquals(seqs(relay), [0, 1, 2, 3]);
});
