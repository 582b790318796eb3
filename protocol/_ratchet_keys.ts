/**
 * The ratchet's asymmetric steps: X25519 (through the project's native helpers in _crypto.ts)
 * and ML-KEM-768 (FIPS 203, `@noble/post-quantum`), with every failure turned into the one
 * authentication error.
 *
 * Why ML-KEM-768: NIST's category-3 parameter set, the one Signal (PQXDH, SPQR), Apple (PQ3) and
 * the TLS hybrid X25519MLKEM768 use. Measured here (Deno 2.9.6, 2-core EPYC, pure JS): keygen
 * ≈ 360 µs, encapsulate ≈ 400 µs, decapsulate ≈ 390 µs, against ≈ 75 µs for an X25519 DH; a KEM
 * round costs one of each, on 2 chains in RATCHET_KEM_PERIOD. Why store the 64-byte seed, not the
 * 2,400-byte decapsulation key: FIPS 203 allows it, and the stored state stays small; decapsulation
 * (once per KEM round) regenerates the key first.
 *
 * @module
 */
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js";
import { dhFromSecret, dhFromSecretSync, type DhKeyPair, dhSync } from "./_crypto.ts";
import { authFailed } from "./errors.ts";
import {
  KEY_LEN,
  MLKEM_CIPHERTEXT_LEN,
  MLKEM_PUBLIC_KEY_LEN,
  MLKEM_RANDOM_LEN,
  MLKEM_SEED_LEN,
} from "./constants.ts";

/** The public X25519 key of a raw private key. */
export async function dhPublic(secret: Uint8Array): Promise<Uint8Array> {
  return (await dhFromSecret(secret)).publicKey;
}

/** X25519(secret, peer): rejects with auth_failed on a non-canonical or low-order key. */
export function dhShared(secret: Uint8Array, peer: Uint8Array): Promise<Uint8Array> {
  return Promise.resolve().then(() => dhWith(dhPair(secret), peer));
}

/**
 * The key pair of a raw private key (one import serves the DH and the public key), on the
 * calling thread: a DH step can then run inside the daemon's accepting transaction.
 */
export function dhPair(secret: Uint8Array): DhKeyPair {
  return dhFromSecretSync(secret);
}

/** X25519 with a key pair from dhPair; throws auth_failed on a non-canonical or low-order key. */
export function dhWith(kp: DhKeyPair, peer: Uint8Array): Uint8Array {
  return dhSync(kp, peer);
}

/** The ML-KEM-768 encapsulation key of a 64-byte seed. */
export function kemPublic(seed: Uint8Array): Uint8Array {
  if (seed.length !== MLKEM_SEED_LEN) throw new TypeError("ML-KEM seed must be 64 bytes");
  return ml_kem768.keygen(seed).publicKey;
}

/**
 * Encapsulates to `pub` with the given 32 random bytes. A key that fails FIPS 203's checks
 * (length, modulus) throws auth_failed.
 */
export function kemEncapsulate(
  pub: Uint8Array,
  random: Uint8Array,
): { ct: Uint8Array; ss: Uint8Array } {
  if (pub.length !== MLKEM_PUBLIC_KEY_LEN || random.length !== MLKEM_RANDOM_LEN) {
    throw authFailed();
  }
  try {
    const { cipherText, sharedSecret } = ml_kem768.encapsulate(pub, random);
    return { ct: cipherText, ss: sharedSecret };
  } catch {
    throw authFailed();
  }
}

/**
 * Decapsulates `ct` with the key of `seed`. ML-KEM rejects implicitly: a wrong ciphertext yields
 * an unrelated secret, so the failure shows later, at the AEAD, like any other.
 */
export function kemDecapsulate(ct: Uint8Array, seed: Uint8Array): Uint8Array {
  if (ct.length !== MLKEM_CIPHERTEXT_LEN || seed.length !== MLKEM_SEED_LEN) throw authFailed();
  try {
    return ml_kem768.decapsulate(ct, ml_kem768.keygen(seed).secretKey);
  } catch {
    throw authFailed();
  }
}

/** Checks a random source's output length (injected sources are not trusted to get it right). */
export function checkRandom(b: Uint8Array, n: number): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== n) {
    throw new TypeError(`random source returned ${b?.length} bytes, not ${n}`);
  }
  return b.slice();
}

/** Length of an X25519 private key. */
export const DH_SECRET_LEN = KEY_LEN;
