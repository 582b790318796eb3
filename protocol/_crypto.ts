/**
 * Cryptographic primitives behind one small interface.
 *
 * Why this split: native code (node:crypto and WebCrypto, both Rust underneath) does X25519,
 * Ed25519 and AES-GCM several times faster than pure JavaScript, and its AES is constant-time
 * (noble's pure-JS AES uses lookup tables, a cache-timing risk), so those go native: node:crypto
 * where it runs synchronously on this thread (X25519, verification; AES-GCM in _aead.ts),
 * WebCrypto for signing (the daemon's, once per login). SHA-256, HMAC and HKDF are small synchronous steps that
 * noble does faster than an async WebCrypto round trip (4 HMACs: 18 µs with noble, 22 µs with
 * node:crypto, here).
 *
 * Ed25519 verification, two ways with the same verdicts. `verifyStrict` (the relay's login,
 * where it was the largest cost) checks what the native verifiers do not — canonical encodings
 * of R and A, S < L, A not of small order — and then calls node:crypto's native verify: 52 µs,
 * synchronous, against 80–115 µs for WebCrypto's (import, verify and a hop) and 530–1070 µs
 * for noble's pure-JS strict verify, which `verify` keeps for the end-to-end handshake.
 * Measured: WebCrypto accepts the "universal" signature (R = identity, S = 0) for the identity
 * key; the small-order check refuses it before the call.
 *
 * X25519 goes through node:crypto too, synchronously: a DH costs 72–79 µs and a key pair 23–35
 * µs, against 116–120 µs and 97–124 µs through WebCrypto, whose X25519 runs on the calling
 * thread anyway (25 % of the relay's login profile was WebCrypto's deriveBits) and adds a hop per
 * call. The checks schied adds (canonical keys, no all-zero result) are the same either way.
 *
 * @module
 */
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { concat, fromBase64Url } from "./bytes.ts";
import { authFailed } from "./errors.ts";
import { KEY_LEN, SIGNATURE_LEN } from "./constants.ts";

export { hmacSha256, hmacSha256Into, hmacSha256Keyed, sha256 } from "./_sha256.ts";
import { hmacSha256, hmacSha256Into } from "./_sha256.ts";

/** The counter bytes 0x01..0x03 of Noise's HKDF. */
const HKDF_BYTE = [0, 1, 2, 3].map((i) => Uint8Array.of(i));

/**
 * Noise's HKDF(chaining_key, input_key_material, num_outputs) with HMAC-SHA-256 (Noise spec §4.3).
 */
export function noiseHkdf(ck: Uint8Array, ikm: Uint8Array, n: 2 | 3): Uint8Array[] {
  const temp = hmacSha256(ck, ikm);
  // One array for the outputs, each HMAC written into it (no joined inputs, no tag copies).
  const out = new Uint8Array(n * 32);
  const o = (i: number) => out.subarray(32 * i, 32 * i + 32);
  hmacSha256Into(temp, [HKDF_BYTE[1]!], out, 0);
  hmacSha256Into(temp, [o(0), HKDF_BYTE[2]!], out, 32);
  if (n === 3) hmacSha256Into(temp, [o(1), HKDF_BYTE[3]!], out, 64);
  temp.fill(0);
  return n === 2 ? [o(0), o(1)] : [o(0), o(1), o(2)];
}

// PKCS#8 prefixes for raw 32-byte X25519 / Ed25519 private keys (RFC 8410).
const X25519_PKCS8 = Uint8Array.from([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x04,
  0x22,
  0x04,
  0x20,
]);
const ED25519_PKCS8 = Uint8Array.from([
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x70,
  0x04,
  0x22,
  0x04,
  0x20,
]);

/** An X25519 key pair: the private half stays a KeyObject (never exported by this module). */
export interface DhKeyPair {
  /** The private key, for node:crypto's diffieHellman. */
  readonly privateKey: KeyObject;
  /** The raw 32-byte public key. */
  readonly publicKey: Uint8Array;
}

// SubjectPublicKeyInfo prefix of a raw 32-byte X25519 public key (RFC 8410).
const X25519_SPKI = Uint8Array.from([
  0x30,
  0x2a,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x03,
  0x21,
  0x00,
]);

/** DER bytes as node:crypto's types want them (it takes any Uint8Array; its types say Buffer). */
function der(bytes: Uint8Array): Buffer {
  return bytes as unknown as Buffer;
}

function rawPublic(k: KeyObject): Uint8Array {
  return fromBase64Url(createPublicKey(k).export({ format: "jwk" }).x!);
}

/** Generates an X25519 key pair from the CSPRNG, synchronously (node:crypto). */
export function generateDhSync(): DhKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  return { privateKey, publicKey: fromBase64Url(publicKey.export({ format: "jwk" }).x!) };
}

/** Generates an X25519 key pair from the CSPRNG. */
export function generateDh(): Promise<DhKeyPair> {
  return Promise.resolve(generateDhSync());
}

/** Makes an X25519 key pair from a raw 32-byte private key (stored keys, test vectors). */
export function dhFromSecret(secret: Uint8Array): Promise<DhKeyPair> {
  return Promise.resolve(dhFromSecretSync(secret));
}

/** dhFromSecret on the calling thread (node:crypto), for callers inside a transaction. */
export function dhFromSecretSync(secret: Uint8Array): DhKeyPair {
  if (secret.length !== KEY_LEN) throw new TypeError(`X25519 secret must be ${KEY_LEN} bytes`);
  const privateKey = createPrivateKey({
    key: der(concat(X25519_PKCS8, secret)),
    format: "der",
    type: "pkcs8",
  });
  return { privateKey, publicKey: rawPublic(privateKey) };
}

/** Makes 32 random bytes from the CSPRNG. */
export function randomSecret(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(KEY_LEN));
}

// p = 2^255 - 19, little-endian.
const P_LE = Uint8Array.from([
  0xed,
  ...new Array<number>(30).fill(0xff),
  0x7f,
]);

/**
 * True when `u` is a canonical X25519 public key: 32 bytes, top bit clear, value below p.
 * RFC 7748 tells receivers to mask the top bit; schied instead rejects every non-canonical
 * encoding, so that one key has exactly one encoding (hashes over keys stay unambiguous).
 */
export function isCanonicalX25519(u: Uint8Array): boolean {
  if (u.length !== KEY_LEN) return false;
  for (let i = KEY_LEN - 1; i >= 0; i--) {
    if (u[i]! < P_LE[i]!) return true;
    if (u[i]! > P_LE[i]!) return false;
  }
  return false; // equal to p
}

/**
 * X25519(priv, pub), synchronously. Fails (uniformly) on a non-canonical key or an all-zero
 * result: a low-order point would make the shared secret predictable, which Noise's security
 * proofs do not allow.
 */
export function dhSync(kp: DhKeyPair, publicKey: Uint8Array): Uint8Array {
  if (!isCanonicalX25519(publicKey)) throw authFailed();
  let out: Uint8Array;
  try {
    const pub = createPublicKey({
      key: der(concat(X25519_SPKI, publicKey)),
      format: "der",
      type: "spki",
    });
    out = new Uint8Array(diffieHellman({ privateKey: kp.privateKey, publicKey: pub }));
  } catch {
    throw authFailed();
  }
  let acc = 0;
  for (const b of out) acc |= b;
  if (acc === 0 || out.length !== KEY_LEN) throw authFailed();
  return out;
}

/** X25519(priv, pub) as a promise (dhSync's checks; rejects with auth_failed). */
export function dh(kp: DhKeyPair, publicKey: Uint8Array): Promise<Uint8Array> {
  try {
    return Promise.resolve(dhSync(kp, publicKey));
  } catch (e) {
    return Promise.reject(e);
  }
}

/** An Ed25519 identity key pair. */
export interface SigningKeyPair {
  /** The 32-byte seed (kept only by the daemon's keystore). */
  readonly seed: Uint8Array;
  /** The private key for WebCrypto's sign. */
  readonly privateKey: CryptoKey;
  /** The raw 32-byte public key. */
  readonly publicKey: Uint8Array;
}

/** Makes an Ed25519 key pair from a 32-byte seed (from the CSPRNG, or stored). */
export async function signingKeyFromSeed(seed: Uint8Array): Promise<SigningKeyPair> {
  if (seed.length !== KEY_LEN) throw new TypeError(`Ed25519 seed must be ${KEY_LEN} bytes`);
  const privateKey = await crypto.subtle.importKey(
    "pkcs8",
    concat(ED25519_PKCS8, seed) as BufferSource,
    { name: "Ed25519" },
    true,
    ["sign"],
  );
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  return { seed: seed.slice(), privateKey, publicKey: fromBase64Url(jwk.x!) };
}

/** Signs with Ed25519 (deterministic, RFC 8032). */
export async function sign(key: SigningKeyPair, message: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, message as BufferSource),
  );
}

/**
 * Verifies an Ed25519 signature strictly (RFC 8032, `zip215: false`): a non-canonical R or A,
 * or S ≥ L (a malleated signature), is rejected. Never throws; false for any malformed input.
 */
export function verify(publicKey: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  if (publicKey.length !== KEY_LEN || sig.length !== SIGNATURE_LEN) return false;
  try {
    return ed25519.verify(sig, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

/** The X25519 public key of a raw private key (pure JS; for tests and checks only). */
export function x25519PublicKey(secret: Uint8Array): Uint8Array {
  return x25519.getPublicKey(secret);
}

export { ED25519_SMALL_ORDER, strictEd25519Input, verifyStrict } from "./_ed25519.ts";
