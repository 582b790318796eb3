/**
 * Ratchet message framing and header encryption (protocol/README.md, section 13.3).
 *
 * ```
 * message    = version (u8 = 2) ‖ shape (u8) ‖ enc_header ‖ body
 * enc_header = siv (12) ‖ AES-256-GCM(hk_enc, nonce = siv, ad = header AD, header) ‖ tag (16)
 * header     = dh (32) ‖ pn (u32) ‖ n (u32) ‖ [ML-KEM public key (1184)] ‖ [ML-KEM ciphertext (1088)]
 * ```
 *
 * Why a synthetic nonce (SIV-style, siv = HMAC(hk_siv, header AD ‖ header)[0..12)): one header key
 * encrypts every header of a chain, the module has no randomness of its own on this path, and a
 * nonce that is a PRF of the plaintext never repeats for two different headers (2^-96 per pair)
 * while looking random to the relay, unlike a counter. The receiver recomputes and compares it.
 *
 * @module
 */
import { constantTimeEqual } from "./bytes.ts";
import { hmacSha256Keyed } from "./_crypto.ts";
import { openSync, sealSyncParts } from "./_aead.ts";
import { headerSubkeys } from "./_ratchet_kdf.ts";
import {
  KEY_LEN,
  MLKEM_CIPHERTEXT_LEN,
  MLKEM_PUBLIC_KEY_LEN,
  RATCHET_ENVELOPE_VERSION,
  TAG_LEN,
} from "./constants.ts";

/** Shape bit: the header carries an ML-KEM public key (an offer). */
export const SHAPE_KEM_PUB = 1;
/** Shape bit: the header carries an ML-KEM ciphertext (an answer). */
export const SHAPE_KEM_CT = 2;

const SIV_LEN = 12;
/** Header without KEM fields: dh ‖ pn ‖ n. */
export const HEADER_BASE_LEN = KEY_LEN + 4 + 4;
/** version ‖ shape. */
export const PREFIX_LEN = 2;

/** A decrypted header. */
export interface Header {
  /** The sender's ratchet public key. */
  dh: Uint8Array;
  /** Messages in the sender's previous sending chain. */
  pn: number;
  /** This message's number in its chain. */
  n: number;
  /** An ML-KEM-768 public key offered by this chain, or null. */
  kemPub: Uint8Array | null;
  /** An ML-KEM-768 ciphertext answering the peer's offer, or null. */
  kemCt: Uint8Array | null;
}

/** The shape byte of a header. */
export function shapeOf(h: Header): number {
  return (h.kemPub ? SHAPE_KEM_PUB : 0) | (h.kemCt ? SHAPE_KEM_CT : 0);
}

/** The plaintext header length for a shape. */
export function headerLen(shape: number): number {
  return HEADER_BASE_LEN + (shape & SHAPE_KEM_PUB ? MLKEM_PUBLIC_KEY_LEN : 0) +
    (shape & SHAPE_KEM_CT ? MLKEM_CIPHERTEXT_LEN : 0);
}

/** The encrypted header length for a shape. */
export function encHeaderLen(shape: number): number {
  return SIV_LEN + headerLen(shape) + TAG_LEN;
}

function encodeHeader(h: Header): Uint8Array {
  const out = new Uint8Array(headerLen(shapeOf(h)));
  const v = new DataView(out.buffer);
  out.set(h.dh, 0);
  v.setUint32(KEY_LEN, h.pn);
  v.setUint32(KEY_LEN + 4, h.n);
  let o = HEADER_BASE_LEN;
  if (h.kemPub) {
    out.set(h.kemPub, o);
    o += MLKEM_PUBLIC_KEY_LEN;
  }
  if (h.kemCt) out.set(h.kemCt, o);
  return out;
}

function decodeHeader(shape: number, b: Uint8Array): Header {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = HEADER_BASE_LEN;
  let kemPub: Uint8Array | null = null;
  let kemCt: Uint8Array | null = null;
  if (shape & SHAPE_KEM_PUB) {
    kemPub = b.slice(o, o + MLKEM_PUBLIC_KEY_LEN);
    o += MLKEM_PUBLIC_KEY_LEN;
  }
  if (shape & SHAPE_KEM_CT) kemCt = b.slice(o, o + MLKEM_CIPHERTEXT_LEN);
  return {
    dh: b.slice(0, KEY_LEN),
    pn: v.getUint32(KEY_LEN),
    n: v.getUint32(KEY_LEN + 4),
    kemPub,
    kemCt,
  };
}

/** The SIV key's keyed HMAC, by key object (sub-keys are cached, so the same objects recur). */
const SIV_MACS = new WeakMap<Uint8Array, (...data: Uint8Array[]) => Uint8Array>();

function siv(key: Uint8Array, ad: Uint8Array, plain: Uint8Array): Uint8Array {
  let mac = SIV_MACS.get(key);
  if (!mac) SIV_MACS.set(key, mac = hmacSha256Keyed(key));
  return mac(ad, plain).subarray(0, SIV_LEN);
}

/**
 * Encrypts a header under header key `hk`; `ad` is the header AD (section 13.3). The encrypted
 * header is the parts returned, in order (SIV, ciphertext, tag), so that the message is joined
 * once (ratchetEncryptSync).
 */
export function sealHeader(hk: Uint8Array, ad: Uint8Array, h: Header): Uint8Array[] {
  const { enc, siv: sivKey } = headerSubkeys(hk);
  const plain = encodeHeader(h);
  const iv = siv(sivKey, ad, plain);
  return [iv, ...sealSyncParts(enc, iv, plain, ad)];
}

/**
 * Decrypts a header; null on any failure (wrong key, tampering, wrong nonce). Never throws, and
 * costs one HMAC pair and one AES-GCM open of at most 2,328 bytes.
 */
export function openHeader(
  hk: Uint8Array,
  ad: Uint8Array,
  shape: number,
  enc: Uint8Array,
): Header | null {
  if (enc.length !== encHeaderLen(shape)) return null;
  const keys = headerSubkeys(hk);
  const iv = enc.subarray(0, SIV_LEN);
  let plain: Uint8Array;
  try {
    plain = openSync(keys.enc, iv, enc.subarray(SIV_LEN), ad);
  } catch {
    return null;
  }
  if (!constantTimeEqual(iv, siv(keys.siv, ad, plain))) return null;
  return decodeHeader(shape, plain);
}

/** A ratchet message split into its parts (no cryptography yet). */
export interface RatchetWire {
  /** version ‖ shape, in clear. */
  prefix: Uint8Array;
  /** The shape byte. */
  shape: number;
  /** The encrypted header. */
  encHeader: Uint8Array;
  /** The AES-256-GCM body with its tag. */
  body: Uint8Array;
}

/** Splits a ratchet message; null when the version, shape or lengths are wrong. */
export function splitMessage(bytes: Uint8Array): RatchetWire | null {
  if (bytes.length < PREFIX_LEN) return null;
  if (bytes[0] !== RATCHET_ENVELOPE_VERSION) return null;
  const shape = bytes[1]!;
  if (shape > (SHAPE_KEM_PUB | SHAPE_KEM_CT)) return null;
  const hl = encHeaderLen(shape);
  if (bytes.length < PREFIX_LEN + hl + TAG_LEN) return null;
  return {
    prefix: bytes.subarray(0, PREFIX_LEN),
    shape,
    encHeader: bytes.subarray(PREFIX_LEN, PREFIX_LEN + hl),
    body: bytes.subarray(PREFIX_LEN + hl),
  };
}

/** The clear prefix of a ratchet message: version ‖ shape. */
export function messagePrefix(shape: number): Uint8Array {
  return Uint8Array.of(RATCHET_ENVELOPE_VERSION, shape);
}
