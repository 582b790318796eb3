/**
 * The Double Ratchet's key derivations (protocol/README.md, section 13.2): HKDF-SHA-256 (RFC
 * 5869) built on the project's HMAC helper, KDF_RK, KDF_CK, the per-message AEAD key and nonce,
 * the initial keys from a Noise XX result, and a header key's two sub-keys.
 *
 * Every derivation takes its inputs whole: lengths are checked first and nothing is truncated (the
 * class of flaw found in SimpleX's first audit was a KDF that read a prefix of its input).
 *
 * @module
 */
import { concat, utf8 } from "./bytes.ts";
import { hmacSha256, hmacSha256Into, hmacSha256Keyed } from "./_crypto.ts";
import {
  ID_LEN,
  KEY_LEN,
  MLKEM_SHARED_LEN,
  RATCHET_CK_MESSAGE,
  RATCHET_CK_NEXT,
  RATCHET_HK_ENC_LABEL,
  RATCHET_HK_SIV_LABEL,
  RATCHET_INIT_LABEL,
  RATCHET_MK_LABEL,
  RATCHET_RK_LABEL,
} from "./constants.ts";

const INIT_INFO = utf8.encode(RATCHET_INIT_LABEL);
const RK_INFO = utf8.encode(RATCHET_RK_LABEL);
const MK_INFO = utf8.encode(RATCHET_MK_LABEL);
const HK_ENC = utf8.encode(RATCHET_HK_ENC_LABEL);
const HK_SIV = utf8.encode(RATCHET_HK_SIV_LABEL);
const CK_MESSAGE = Uint8Array.of(RATCHET_CK_MESSAGE);
const CK_NEXT = Uint8Array.of(RATCHET_CK_NEXT);
// Why a zero salt for message keys: the message key is already uniform (Signal's recommendation).
const ZERO_SALT = new Uint8Array(32);

/** Counts derivations, so tests can check that a refused message derived nothing. */
export interface KdfMeter {
  /** KDF_RK calls. */
  rk: number;
  /** KDF_CK calls (chain steps). */
  ck: number;
}

function need(b: Uint8Array, n: number, what: string): void {
  if (b.length !== n) throw new TypeError(`${what} must be ${n} bytes, not ${b.length}`);
}

/** HKDF-SHA-256 (RFC 5869): extract with `salt`, expand to `length` ≤ 8160 bytes with `info`. */
export function hkdfSha256(
  salt: Uint8Array,
  ikm: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  if (!Number.isInteger(length) || length < 1 || length > 255 * 32) {
    throw new TypeError(`HKDF length ${length} is out of range`);
  }
  return expand(hmacSha256(salt, ikm), info, length);
}

const NO_BYTES = new Uint8Array(0);
const counter = new Uint8Array(1);

/**
 * HKDF-Expand: T(i) = HMAC(prk, T(i-1) ‖ info ‖ i), each written straight into the output (T(i-1)
 * is read back from there; only the last block may be cut short, and nothing follows it).
 */
function expand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let t = NO_BYTES;
  for (let i = 1, o = 0; o < length; i++, o += 32) {
    counter[0] = i;
    const n = Math.min(32, length - o);
    hmacSha256Into(prk, [t, info, counter], out, o, n);
    t = out.subarray(o, o + n);
  }
  return out;
}

/**
 * HKDF's extract under the all-zero salt of messageAead, keyed once (a long-lived key: its pad
 * blocks are hashed once; for a key used once or twice copying the state costs more than it saves).
 */
const ZERO_SALT_MAC = hmacSha256Keyed(ZERO_SALT);

/** The output of one root-chain step. */
export interface RootStep {
  /** The next root key. */
  rk: Uint8Array;
  /** The new chain's first chain key. */
  ck: Uint8Array;
  /** The header key of the chain after next in this direction (Signal's NHK). */
  nhk: Uint8Array;
}

/**
 * KDF_RK: HKDF-SHA-256 with the root key as salt over the whole X25519 output, followed by the
 * whole ML-KEM-768 shared secret when the step carries a KEM answer. Why concatenation under one
 * extract: the output is pseudorandom as long as either input is secret (a dual-PRF combiner, as
 * in Signal's PQXDH and TLS hybrid key exchange), and both lengths are fixed, so the two input
 * shapes (32 or 64 bytes) cannot collide.
 */
export function kdfRk(
  rk: Uint8Array,
  dhOut: Uint8Array,
  kemSecret: Uint8Array | null,
  meter?: KdfMeter,
): RootStep {
  need(rk, KEY_LEN, "root key");
  need(dhOut, KEY_LEN, "DH output");
  if (kemSecret !== null) need(kemSecret, MLKEM_SHARED_LEN, "KEM secret");
  if (meter) meter.rk++;
  const ikm = kemSecret === null ? dhOut : concat(dhOut, kemSecret);
  const okm = hkdfSha256(rk, ikm, RK_INFO, 96);
  return { rk: okm.slice(0, 32), ck: okm.slice(32, 64), nhk: okm.slice(64, 96) };
}

/**
 * KDF_CK: `mk = HMAC(ck, 0x01)`, `ck' = HMAC(ck, 0x02)`. Why HMAC with two constants: each
 * output is a PRF of the chain key under a distinct input, so a message key reveals nothing of
 * the next chain key (forward secrecy within a chain).
 */
export function kdfCk(ck: Uint8Array, meter?: KdfMeter): { mk: Uint8Array; ck: Uint8Array } {
  need(ck, KEY_LEN, "chain key");
  if (meter) meter.ck++;
  return { mk: hmacSha256(ck, CK_MESSAGE), ck: hmacSha256(ck, CK_NEXT) };
}

/**
 * The AES-256-GCM key and nonce of one message: HKDF(salt = 32 zero bytes, mk, label), 44 bytes.
 * Why derive the nonce too: each message key encrypts once, and a derived nonce keeps even an
 * accidental second use of a key from repeating a (key, nonce) pair with a known nonce.
 */
export function messageAead(mk: Uint8Array): { key: Uint8Array; iv: Uint8Array } {
  need(mk, KEY_LEN, "message key");
  const okm = expand(ZERO_SALT_MAC(mk), MK_INFO, 44); // = hkdfSha256(ZERO_SALT, mk, MK_INFO, 44)
  return { key: okm.subarray(0, 32), iv: okm.subarray(32, 44) }; // views: used once, at once
}

/** The keys a ratchet starts from (section 13.2). */
export interface InitialKeys {
  /** Root key RK0. */
  rk: Uint8Array;
  /** The initiator's chain-0 chain key. */
  ckI: Uint8Array;
  /** The initiator's chain-0 header key. */
  hkI: Uint8Array;
  /** The initiator's next header key (its step-2 chain). */
  nhkI: Uint8Array;
  /** The responder's next header key (its step-1 chain). */
  nhkR: Uint8Array;
  /** The initiator's initial X25519 private key A0 (known to both sides). */
  a0: Uint8Array;
}

/**
 * Initial keys: HKDF-SHA-256(salt = Noise handshake hash h, ikm = both Split() keys, info =
 * label ‖ initiator id ‖ responder id), 192 bytes. Why h as salt: it binds the transcript (both
 * ephemerals, both statics, the prologue with both ids) into every later key, so two sessions
 * never share a root key even if a Split() output repeated.
 */
export function initialKeys(
  h: Uint8Array,
  split: readonly [Uint8Array, Uint8Array],
  initiatorId: Uint8Array,
  responderId: Uint8Array,
): InitialKeys {
  need(h, 32, "handshake hash");
  need(split[0], KEY_LEN, "Split() key 1");
  need(split[1], KEY_LEN, "Split() key 2");
  need(initiatorId, ID_LEN, "initiator id");
  need(responderId, ID_LEN, "responder id");
  const okm = hkdfSha256(
    h,
    concat(split[0], split[1]),
    concat(INIT_INFO, initiatorId, responderId),
    192,
  );
  const part = (i: number) => okm.slice(32 * i, 32 * (i + 1));
  return { rk: part(0), ckI: part(1), hkI: part(2), nhkI: part(3), nhkR: part(4), a0: part(5) };
}

/**
 * A header key's sub-keys: AES-256-GCM key and synthetic-nonce key, HMAC(hk, label). Why two:
 * one key is never used by two primitives.
 */
export function headerSubkeys(hk: Uint8Array): { enc: Uint8Array; siv: Uint8Array } {
  need(hk, KEY_LEN, "header key");
  const hit = SUBKEYS.get(hk);
  if (hit) return hit;
  const k = { enc: hmacSha256(hk, HK_ENC), siv: hmacSha256(hk, HK_SIV) };
  SUBKEYS.set(hk, k);
  return k;
}

/**
 * Sub-keys by header key object. Why a cache: a header key serves a whole chain and is tried on
 * every message (up to 6 trials), and its two HMACs were a fifth of a seal's cost. Keyed by the
 * array's identity, which states share (cloneState), and weakly, so it holds nothing a state
 * does not: a key dropped from every state is collectable with its sub-keys.
 */
const SUBKEYS = new WeakMap<Uint8Array, { enc: Uint8Array; siv: Uint8Array }>();
