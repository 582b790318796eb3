/**
 * Strict Ed25519 verification at native speed: the checks of RFC 8032's strict reading that the
 * native verifiers do not make (canonical R and A, S < L, A not of small order), then
 * node:crypto's verify. Why native: noble's strict verify takes 530–1070 µs here, node:crypto's
 * 52 µs, WebCrypto's 80–115 µs with its import and hop; see _crypto.ts for the whole split.
 *
 * @module
 */
import { createPublicKey, verify as nodeVerify } from "node:crypto";
import { concat } from "./bytes.ts";
import { KEY_LEN, SIGNATURE_LEN } from "./constants.ts";

// p = 2^255 - 19, little-endian (as in _crypto.ts, which imports this module).
const P_LE = Uint8Array.from([0xed, ...new Array<number>(30).fill(0xff), 0x7f]);

/** DER bytes as node:crypto's types want them (it takes any Uint8Array; its types say Buffer). */
function der(bytes: Uint8Array): Buffer {
  return bytes as unknown as Buffer;
}

// L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const L_LE = Uint8Array.from([
  0xed,
  0xd3,
  0xf5,
  0x5c,
  0x1a,
  0x63,
  0x12,
  0x58,
  0xd6,
  0x9c,
  0xf7,
  0xa2,
  0xde,
  0xf9,
  0xde,
  0x14,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0x10,
]);

/**
 * The Ed25519 encodings of the 8 points of small order (canonical) and the two "negative
 * zero" encodings of the points with x = 0 (identity and order 2 with the sign bit set), as in
 * libsodium's blocklist. With y < p also required, this refuses every encoding of a point of
 * small order.
 */
export const ED25519_SMALL_ORDER: readonly string[] = [
  "0100000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000080",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0000000000000000000000000000000000000000000000000000000000000080",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
];
const SMALL_ORDER = new Set(ED25519_SMALL_ORDER);

/** True when little-endian `a` (top bit masked off if `maskTop`) is below little-endian `limit`. */
function belowLe(a: Uint8Array, limit: Uint8Array, maskTop: boolean): boolean {
  for (let i = 31; i >= 0; i--) {
    const x = i === 31 && maskTop ? a[i]! & 0x7f : a[i]!;
    if (x !== limit[i]!) return x < limit[i]!;
  }
  return false; // equal
}

/** A point encoding whose y is canonical (below p) and that is not a "negative zero". */
function canonicalPoint(b: Uint8Array): boolean {
  if (!belowLe(b, P_LE, true)) return false;
  const hex = b.toHex();
  return hex !== ED25519_SMALL_ORDER[1] && hex !== ED25519_SMALL_ORDER[3];
}

/**
 * The checks of strict RFC 8032 verification that WebCrypto does not make: A and R encoded
 * canonically (y < p, no negative zero), S < L, and A not of small order. True when they pass.
 */
export function strictEd25519Input(publicKey: Uint8Array, sig: Uint8Array): boolean {
  if (publicKey.length !== KEY_LEN || sig.length !== SIGNATURE_LEN) return false;
  if (!canonicalPoint(publicKey) || SMALL_ORDER.has(publicKey.toHex())) return false;
  if (!canonicalPoint(sig.subarray(0, 32))) return false;
  return belowLe(sig.subarray(32), L_LE, false);
}

// SubjectPublicKeyInfo prefix of a raw 32-byte Ed25519 public key (RFC 8410).
const ED25519_SPKI = Uint8Array.from([
  0x30,
  0x2a,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x03,
  0x21,
  0x00,
]);

/**
 * Verifies an Ed25519 signature strictly, natively and synchronously: `strictEd25519Input`,
 * then node:crypto's Ed25519 verify. Never throws; false for any malformed input. Same
 * verdicts as `verify`.
 */
export function verifyStrict(publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  if (!strictEd25519Input(publicKey, sig)) return false;
  try {
    const k = createPublicKey({
      key: der(concat(ED25519_SPKI, publicKey)),
      format: "der",
      type: "spki",
    });
    return nodeVerify(null, message, k, sig);
  } catch {
    return false;
  }
}
