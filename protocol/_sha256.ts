/**
 * SHA-256 and HMAC-SHA-256 (RFC 2104) on noble's SHA-256, with the hash states kept and reset
 * for each call instead of made anew. Used only by _crypto.ts, which exports them.
 *
 * Why: noble's `hmac()` makes two hash objects, a pad block and their views on every call,
 * about 1.5 KB of garbage; a message costs a dozen HMACs (the ratchet's KDF_CK and message-key
 * HKDF, the header key, the at-rest sealer), so that was a sixth of what a daemon allocated per
 * message, and ~30 % of each HMAC's time (2.3–2.9 against 3.7–4.9 µs measured here). The hash
 * itself is noble's, untouched: a state is reset by `_cloneInto` from a pristine one, as noble's
 * own HMAC clones its states. Outputs equal noble's `hmac` and `sha256` for every key and message
 * length (tests/protocol/sha256_test.ts compares them over random inputs).
 *
 * Every function here runs to completion synchronously, so the shared states are never used by
 * two calls at once; each call wipes what it derived from a key (pad block, inner digest,
 * states) before it returns.
 *
 * @module
 */
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";

type Sha256 = ReturnType<typeof nobleSha256.create>;

const BLOCK = 64;
const OUT = 32;
const IPAD = 0x36;
const OPAD = 0x5c;

/** A pristine state to reset the working ones from. */
const EMPTY: Sha256 = nobleSha256.create();
const inner: Sha256 = nobleSha256.create();
const outer: Sha256 = nobleSha256.create();
const pad = new Uint8Array(BLOCK);
const mid = new Uint8Array(OUT);
const tag = new Uint8Array(OUT);

function reset(h: Sha256, from: Sha256 = EMPTY): Sha256 {
  return from._cloneInto(h);
}

/** SHA-256 of `data`. */
export function sha256(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(OUT);
  reset(inner).update(data).digestInto(out);
  inner.destroy();
  return out;
}

/** Fills `pad` with the key block XOR `x` (a key longer than a block is hashed first). */
function keyBlock(key: Uint8Array, x: number): void {
  pad.fill(0);
  pad.set(key.length > BLOCK ? sha256(key) : key);
  for (let i = 0; i < BLOCK; i++) pad[i]! ^= x;
}

/** The outer hash over the inner digest in `mid`, into a new array; wipes the scratch. */
function finish(o: Sha256): Uint8Array {
  const out = new Uint8Array(OUT);
  o.update(mid).digestInto(out);
  inner.destroy();
  outer.destroy();
  pad.fill(0);
  mid.fill(0);
  return out;
}

/** HMAC-SHA-256(key, data). */
export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
  keyBlock(key, IPAD);
  reset(inner).update(pad).update(data).digestInto(mid);
  for (let i = 0; i < BLOCK; i++) pad[i]! ^= IPAD ^ OPAD;
  return finish(reset(outer).update(pad));
}

/**
 * HMAC-SHA-256(key, parts[0] ‖ parts[1] ‖ …), its first `len` bytes written into `out` at
 * `at`: no array for the joined message nor for the tag (HKDF's expand writes each block
 * straight into its output).
 */
export function hmacSha256Into(
  key: Uint8Array,
  parts: readonly Uint8Array[],
  out: Uint8Array,
  at: number,
  len: number = OUT,
): void {
  if (len < 0 || len > OUT || at < 0 || at + len > out.length) {
    throw new RangeError(`Cannot write ${len} HMAC bytes at ${at} of ${out.length}`);
  }
  keyBlock(key, IPAD);
  const h = reset(inner).update(pad);
  for (const p of parts) h.update(p);
  h.digestInto(mid);
  for (let i = 0; i < BLOCK; i++) pad[i]! ^= IPAD ^ OPAD;
  reset(outer).update(pad).update(mid).digestInto(tag);
  out.set(len === OUT ? tag : tag.subarray(0, len), at);
  inner.destroy();
  outer.destroy();
  pad.fill(0);
  mid.fill(0);
  tag.fill(0);
}

/**
 * HMAC-SHA-256 under one long-lived key: the states after the key's inner and outer pad blocks
 * are computed once and copied into the working ones per call (two compressions saved). The
 * returned MAC takes the message in parts, as if joined.
 */
export function hmacSha256Keyed(key: Uint8Array): (...data: Uint8Array[]) => Uint8Array {
  const keyedInner = nobleSha256.create();
  const keyedOuter = nobleSha256.create();
  keyBlock(key, IPAD);
  keyedInner.update(pad);
  for (let i = 0; i < BLOCK; i++) pad[i]! ^= IPAD ^ OPAD;
  keyedOuter.update(pad);
  pad.fill(0);
  return (...data) => {
    const h = reset(inner, keyedInner);
    for (const d of data) h.update(d); // the MAC of the parts joined, without joining them
    h.digestInto(mid);
    return finish(reset(outer, keyedOuter));
  };
}
