/**
 * The Double Ratchet state as bytes, for atomic persistence (protocol/README.md, section 13.6):
 * a version byte, fixed fields, optional fields announced by flag bits, and the skipped keys.
 * Parsing is strict: a wrong version, an unknown flag bit, a field out of range, a count over its
 * cap, keys out of order or a trailing byte are each refused with their own `bad_frame` message.
 *
 * @module
 */
import {
  ID_LEN,
  KEY_LEN,
  MLKEM_CIPHERTEXT_LEN,
  MLKEM_PUBLIC_KEY_LEN,
  MLKEM_SEED_LEN,
  RATCHET_MAX_SKIPPED_CHAINS,
  RATCHET_MAX_SKIPPED_KEYS,
  RATCHET_MAX_SKIPPED_PER_CHAIN,
  RATCHET_STATE_VERSION,
} from "./constants.ts";
import { ProtocolError } from "./errors.ts";
import { SHAPE_KEM_CT, SHAPE_KEM_PUB } from "./_ratchet_header.ts";
import type { RatchetState, SkippedChain } from "./_ratchet_state.ts";

const F_INITIATOR = 1, F_PENDING = 2, F_DHS = 4, F_DHR = 8, F_SEND = 16, F_RECV = 32;
const F_KEM_SEED = 64, F_PEER_KEM = 128;
const G_SEND_PUB = 1, G_SEND_CT = 2;

function fail(msg: string): never {
  throw new ProtocolError("bad_frame", `Cannot parse ratchet state: ${msg}`);
}

class Writer {
  parts: Uint8Array[] = [];
  bytes(b: Uint8Array): void {
    this.parts.push(b.slice());
  }
  u8(n: number): void {
    this.parts.push(Uint8Array.of(n));
  }
  u16(n: number): void {
    this.parts.push(Uint8Array.of(n >>> 8, n & 0xff));
  }
  u32(n: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n);
    this.parts.push(b);
  }
  u64(n: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(n));
    this.parts.push(b);
  }
}

class Reader {
  o = 0;
  readonly v: DataView;
  constructor(readonly b: Uint8Array) {
    this.v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  #need(n: number, what: string): void {
    if (this.o + n > this.b.length) fail(`truncated in ${what}`);
  }
  bytes(n: number, what: string): Uint8Array {
    this.#need(n, what);
    this.o += n;
    return this.b.slice(this.o - n, this.o);
  }
  u8(what: string): number {
    this.#need(1, what);
    return this.b[this.o++]!;
  }
  u16(what: string): number {
    this.#need(2, what);
    this.o += 2;
    return this.v.getUint16(this.o - 2);
  }
  u32(what: string): number {
    this.#need(4, what);
    this.o += 4;
    return this.v.getUint32(this.o - 4);
  }
  u64(what: string): number {
    this.#need(8, what);
    this.o += 8;
    const n = this.v.getBigUint64(this.o - 8);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} is out of range`);
    return Number(n);
  }
}

/** Serialises a ratchet state (version RATCHET_STATE_VERSION). */
export function encodeState(s: RatchetState): Uint8Array {
  const w = new Writer();
  w.u8(RATCHET_STATE_VERSION);
  w.u8(
    (s.initiator ? F_INITIATOR : 0) | (s.pendingStep ? F_PENDING : 0) | (s.dhs ? F_DHS : 0) |
      (s.dhr ? F_DHR : 0) | (s.cks ? F_SEND : 0) | (s.ckr ? F_RECV : 0) |
      (s.kemSeed ? F_KEM_SEED : 0) | (s.peerKemPub ? F_PEER_KEM : 0),
  );
  w.u8((s.sendKemPub ? G_SEND_PUB : 0) | (s.sendKemCt ? G_SEND_CT : 0));
  w.u8(s.kemPeriod);
  w.u8(s.recvShape);
  for (const b of [s.h, s.localId, s.peerId, s.rk, s.nhks, s.nhkr]) w.bytes(b);
  for (const n of [s.step, s.ns, s.pn, s.nr]) w.u32(n);
  if (s.dhs) w.bytes(s.dhs), w.bytes(s.dhsPub!);
  if (s.dhr) w.bytes(s.dhr);
  if (s.cks) w.bytes(s.cks), w.bytes(s.hks!);
  if (s.ckr) w.bytes(s.ckr), w.bytes(s.hkr!);
  if (s.kemSeed) w.bytes(s.kemSeed);
  if (s.peerKemPub) w.bytes(s.peerKemPub);
  if (s.sendKemPub) w.bytes(s.sendKemPub);
  if (s.sendKemCt) w.bytes(s.sendKemCt);
  w.u8(s.skipped.length);
  for (const c of s.skipped) {
    w.bytes(c.hk);
    w.bytes(c.dh);
    w.u16(c.keys.length);
    for (const k of c.keys) w.u32(k.n), w.u64(k.at), w.bytes(k.mk);
  }
  let len = 0;
  for (const p of w.parts) len += p.length;
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of w.parts) out.set(p, o), o += p.length;
  return out;
}

/** Parses a serialised ratchet state strictly. */
export function decodeState(bytes: Uint8Array): RatchetState {
  const r = new Reader(bytes);
  const version = r.u8("version");
  if (version !== RATCHET_STATE_VERSION) fail(`version ${version} is not ${RATCHET_STATE_VERSION}`);
  const f = r.u8("flags");
  const g = r.u8("flags");
  if (g & ~(G_SEND_PUB | G_SEND_CT)) fail(`unknown flag bits ${g}`);
  const kemPeriod = r.u8("KEM period");
  if (kemPeriod < 1) fail("KEM period 0");
  const recvShape = r.u8("shape");
  if (recvShape > (SHAPE_KEM_PUB | SHAPE_KEM_CT)) fail(`shape ${recvShape} is unknown`);
  const h = r.bytes(32, "hash"), localId = r.bytes(ID_LEN, "ids"), peerId = r.bytes(ID_LEN, "ids");
  const rk = r.bytes(KEY_LEN, "keys"), nhks = r.bytes(KEY_LEN, "keys");
  const nhkr = r.bytes(KEY_LEN, "keys");
  const step = r.u32("counters"), ns = r.u32("counters"), pn = r.u32("counters");
  const nr = r.u32("counters");
  const opt = (bit: number, n: number, what: string) => (f & bit ? r.bytes(n, what) : null);
  const dhs = opt(F_DHS, KEY_LEN, "ratchet key"), dhsPub = opt(F_DHS, KEY_LEN, "ratchet key");
  const dhr = opt(F_DHR, KEY_LEN, "peer ratchet key");
  const cks = opt(F_SEND, KEY_LEN, "sending chain"), hks = opt(F_SEND, KEY_LEN, "sending chain");
  const ckr = opt(F_RECV, KEY_LEN, "receiving chain"),
    hkr = opt(F_RECV, KEY_LEN, "receiving chain");
  const kemSeed = opt(F_KEM_SEED, MLKEM_SEED_LEN, "KEM seed");
  const peerKemPub = opt(F_PEER_KEM, MLKEM_PUBLIC_KEY_LEN, "peer KEM key");
  const sendKemPub = g & G_SEND_PUB ? r.bytes(MLKEM_PUBLIC_KEY_LEN, "sending KEM key") : null;
  const sendKemCt = g & G_SEND_CT ? r.bytes(MLKEM_CIPHERTEXT_LEN, "sending KEM ciphertext") : null;
  if (!dhs && !(f & F_PENDING)) fail("no ratchet key and no pending step");
  if (!cks && dhs) fail("a ratchet key without a sending chain");
  const chains = r.u8("skipped chains");
  if (chains > RATCHET_MAX_SKIPPED_CHAINS) fail(`${chains} skipped chains exceed the cap`);
  const skipped: SkippedChain[] = [];
  let total = 0;
  for (let i = 0; i < chains; i++) {
    const hk = r.bytes(KEY_LEN, "skipped chain"), dh = r.bytes(KEY_LEN, "skipped chain");
    const count = r.u16("skipped count");
    if (count < 1 || count > RATCHET_MAX_SKIPPED_PER_CHAIN) fail(`skipped count ${count}`);
    total += count;
    if (total > RATCHET_MAX_SKIPPED_KEYS) fail(`${total} skipped keys exceed the cap`);
    const keys = [];
    for (let j = 0; j < count; j++) {
      const n = r.u32("skipped key"),
        at = r.u64("skipped key"),
        mk = r.bytes(KEY_LEN, "skipped key");
      if (j > 0 && n <= keys[j - 1]!.n) fail("skipped keys out of order");
      keys.push({ n, at, mk });
    }
    skipped.push({ hk, dh, keys });
  }
  if (r.o !== bytes.length) fail(`${bytes.length - r.o} trailing bytes`);
  return {
    initiator: (f & F_INITIATOR) !== 0,
    kemPeriod,
    h,
    localId,
    peerId,
    rk,
    step,
    dhs,
    dhsPub,
    dhr,
    cks,
    hks,
    nhks,
    ns,
    pn,
    sendKemPub,
    sendKemCt,
    ckr,
    hkr,
    nhkr,
    nr,
    recvShape,
    pendingStep: (f & F_PENDING) !== 0,
    kemSeed,
    peerKemPub,
    skipped,
  };
}
