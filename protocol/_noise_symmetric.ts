/**
 * The symmetric half of noise.ts's Noise Protocol Framework (revision 34): the CipherState (a
 * key and a counter nonce, AESGCM) and the SymmetricState (chaining key, handshake hash, and a
 * CipherState; SHA256 and its HKDF). Pure state machines: no I/O.
 *
 * @module
 */
import { concat } from "./bytes.ts";
import { authFailed, ProtocolError } from "./errors.ts";
import { noiseHkdf, sha256 } from "./_crypto.ts";
import { aesGcmNonce, openSync, sealSync } from "./_aead.ts";
import { TAG_LEN } from "./constants.ts";

/** Largest nonce a CipherState may use; 2^64-1 is reserved by Noise, and JS numbers stay exact. */
export const MAX_NONCE = Number.MAX_SAFE_INTEGER;

/**
 * A Noise CipherState: a key and a counter nonce (never random, never a list). Synchronous:
 * handshake messages are tiny, and node:crypto seals them on this thread in a few µs, where
 * a WebCrypto call costs an import and a hop to a worker each (_aead.ts has the figures).
 */
export class CipherState {
  #raw: Uint8Array | null = null;
  /** The next nonce. */
  n = 0;

  /** Whether a key is set. */
  get hasKey(): boolean {
    return this.#raw !== null;
  }

  /** Sets a new key from 32 bytes and resets the nonce. */
  initializeKey(k: Uint8Array | null): void {
    this.#raw = k === null ? null : k.slice();
    this.n = 0;
  }

  /** Encrypts with the next nonce; without a key, returns the plaintext (handshake start). */
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (this.#raw === null) return plaintext;
    if (this.n >= MAX_NONCE) throw new ProtocolError("rekey", "Nonce space exhausted");
    return sealSync(this.#raw, aesGcmNonce(this.n++), plaintext, ad);
  }

  /**
   * Decrypts with the next nonce. On failure the nonce does not advance and the call throws the
   * one generic authentication error.
   */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (this.#raw === null) return ciphertext;
    if (this.n >= MAX_NONCE) throw new ProtocolError("rekey", "Nonce space exhausted");
    if (ciphertext.length < TAG_LEN) throw authFailed();
    let pt: Uint8Array;
    try {
      pt = openSync(this.#raw, aesGcmNonce(this.n), ciphertext, ad);
    } catch {
      throw authFailed();
    }
    this.n++;
    return pt;
  }

  /** The raw key, for the record layer (channel.ts). */
  rawKey(): Uint8Array {
    if (this.#raw === null) throw new ProtocolError("internal", "CipherState has no key");
    return this.#raw;
  }
}

/** A Noise SymmetricState: chaining key, handshake hash, and a CipherState. */
export class SymmetricState {
  ck: Uint8Array;
  h: Uint8Array;
  readonly cipher = new CipherState();

  /** InitializeSymmetric(protocol_name). */
  constructor(protocolName: string) {
    const name = new TextEncoder().encode(protocolName);
    this.h = name.length <= 32 ? concat(name, new Uint8Array(32 - name.length)) : sha256(name);
    this.ck = this.h.slice();
  }

  /** MixKey(input_key_material). */
  mixKey(ikm: Uint8Array): void {
    const [ck, k] = noiseHkdf(this.ck, ikm, 2);
    this.ck = ck!;
    this.cipher.initializeKey(k!);
  }

  /** MixHash(data). */
  mixHash(data: Uint8Array): void {
    this.h = sha256(concat(this.h, data));
  }

  /** EncryptAndHash(plaintext). */
  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const c = this.cipher.encryptWithAd(this.h, plaintext);
    this.mixHash(c);
    return c;
  }

  /** DecryptAndHash(ciphertext). */
  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const p = this.cipher.decryptWithAd(this.h, ciphertext);
    this.mixHash(ciphertext);
    return p;
  }

  /** Split(): the initiator→responder and responder→initiator CipherStates. */
  split(): [CipherState, CipherState] {
    const [k1, k2] = noiseHkdf(this.ck, new Uint8Array(), 2);
    const c1 = new CipherState();
    const c2 = new CipherState();
    c1.initializeKey(k1!);
    c2.initializeKey(k2!);
    return [c1, c2];
  }
}
