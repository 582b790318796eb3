/**
 * The Noise Protocol Framework (revision 34) for the two patterns schied uses, XK (daemon ↔
 * relay link) and XX (daemon ↔ daemon), with 25519, AESGCM and SHA256.
 *
 * Pure state machines: no I/O. Randomness comes from WebCrypto's key generation unless a test
 * injects fixed ephemeral keys (the published vectors do).
 *
 * @example
 * ```ts
 * const hs = new HandshakeState({ pattern: "XK", initiator: true, prologue, s, rs });
 * const m1 = await hs.writeMessage(new Uint8Array());
 * ```
 * @module
 */
import { concat } from "./bytes.ts";
import { authFailed, ProtocolError } from "./errors.ts";
import { type DhKeyPair, dhSync, generateDhSync, noiseHkdf, sha256 } from "./_crypto.ts";
import { aesGcmNonce, openSync, sealSync } from "./_aead.ts";
import { KEY_LEN, NOISE_MAX_MESSAGE, TAG_LEN } from "./constants.ts";

/** Largest nonce a CipherState may use; 2^64-1 is reserved by Noise, and JS numbers stay exact. */
export const MAX_NONCE = Number.MAX_SAFE_INTEGER;

export { aesGcmNonce };

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

type Token = "e" | "s" | "ee" | "es" | "se" | "ss";

/** The handshake patterns schied implements. */
export type PatternName = "XK" | "XX";

const PATTERNS: Record<PatternName, { preResponderS: boolean; messages: Token[][] }> = {
  // XK:  <- s  ...  -> e, es   <- e, ee   -> s, se
  XK: { preResponderS: true, messages: [["e", "es"], ["e", "ee"], ["s", "se"]] },
  // XX:  -> e   <- e, ee, s, es   -> s, se
  XX: { preResponderS: false, messages: [["e"], ["e", "ee", "s", "es"], ["s", "se"]] },
};

/** Options of a handshake. */
export interface HandshakeOptions {
  /** XK or XX. */
  pattern: PatternName;
  /** True on the side that sends the first message. */
  initiator: boolean;
  /** Bytes both sides must agree on; mixed into the handshake hash. */
  prologue: Uint8Array;
  /** Our static key pair. */
  s: DhKeyPair;
  /** The peer's static public key, when known in advance (XK's responder key). */
  rs?: Uint8Array;
  /** A fixed ephemeral key pair; only the published test vectors set this. */
  e?: DhKeyPair;
}

/** The outcome of reading a handshake message. */
export interface ReadResult {
  /** The decrypted payload. */
  payload: Uint8Array;
  /** The handshake hash after the message's tokens, before its payload (what a login signs). */
  hashBeforePayload: Uint8Array;
}

/** A Noise HandshakeState for XK or XX. */
export class HandshakeState {
  readonly #ss: SymmetricState;
  readonly #pattern: (typeof PATTERNS)[PatternName];
  readonly #initiator: boolean;
  readonly #s: DhKeyPair;
  #e: DhKeyPair | undefined;
  #re: Uint8Array | undefined;
  #rs: Uint8Array | undefined;
  #index = 0;

  /** Initialize(handshake_pattern, initiator, prologue, s, e, rs, re). */
  constructor(opts: HandshakeOptions) {
    const name = `Noise_${opts.pattern}_25519_AESGCM_SHA256`;
    this.#pattern = PATTERNS[opts.pattern];
    this.#ss = new SymmetricState(name);
    this.#initiator = opts.initiator;
    this.#s = opts.s;
    this.#e = opts.e;
    this.#rs = opts.rs;
    this.#ss.mixHash(opts.prologue);
    if (this.#pattern.preResponderS) {
      const key = opts.initiator ? opts.rs : opts.s.publicKey;
      if (!key || key.length !== KEY_LEN) {
        throw new ProtocolError("internal", "XK needs the responder's static key in advance");
      }
      this.#ss.mixHash(key);
    }
  }

  /** True once every message of the pattern has been written or read. */
  get complete(): boolean {
    return this.#index >= this.#pattern.messages.length;
  }

  /** The peer's static public key, once known. */
  get remoteStatic(): Uint8Array | undefined {
    return this.#rs;
  }

  /** The handshake hash h (channel binding). */
  get handshakeHash(): Uint8Array {
    return this.#ss.h;
  }

  /** True when it is our turn to write. */
  get isMyTurn(): boolean {
    return (this.#index % 2 === 0) === this.#initiator;
  }

  #dhToken(t: "ee" | "es" | "se" | "ss"): void {
    // es: initiator's e with responder's s; se: initiator's s with responder's e.
    const mine = t === "ee" || (t === "es") === this.#initiator ? this.#e : this.#s;
    const theirs = t === "ee" || (t === "se") === this.#initiator ? this.#re : this.#rs;
    const local = t === "ss" ? this.#s : mine;
    const remote = t === "ss" ? this.#rs : theirs;
    if (!local || !remote) throw new ProtocolError("internal", `Missing key for token ${t}`);
    this.#ss.mixKey(dhSync(local, remote));
  }

  /**
   * WriteMessage(payload). The payload may be a function of the handshake hash after this
   * message's tokens, so that a signature can bind the whole transcript so far.
   */
  async writeMessage(
    payload: Uint8Array | ((h: Uint8Array) => Uint8Array | Promise<Uint8Array>),
  ): Promise<Uint8Array> {
    if (this.complete || !this.isMyTurn) {
      throw new ProtocolError("internal", "Handshake: not our turn to write");
    }
    const parts: Uint8Array[] = [];
    for (const t of this.#pattern.messages[this.#index]!) {
      if (t === "e") {
        this.#e ??= generateDhSync();
        parts.push(this.#e.publicKey);
        this.#ss.mixHash(this.#e.publicKey);
      } else if (t === "s") {
        parts.push(this.#ss.encryptAndHash(this.#s.publicKey));
      } else {
        this.#dhToken(t);
      }
    }
    const body = typeof payload === "function" ? await payload(this.#ss.h) : payload;
    parts.push(this.#ss.encryptAndHash(body));
    this.#index++;
    const msg = concat(...parts);
    if (msg.length > NOISE_MAX_MESSAGE) {
      throw new ProtocolError(
        "too_large",
        `Handshake message of ${msg.length} bytes exceeds 65535`,
      );
    }
    return msg;
  }

  /**
   * ReadMessage(message). Any failure is the one generic authentication error. The work is
   * synchronous (node:crypto X25519 and AES-GCM); the promise keeps the callers' shape.
   */
  readMessage(message: Uint8Array): Promise<ReadResult> {
    try {
      return Promise.resolve(this.#read(message));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #read(message: Uint8Array): ReadResult {
    if (this.complete || this.isMyTurn) {
      throw new ProtocolError("internal", "Handshake: not our turn to read");
    }
    if (message.length > NOISE_MAX_MESSAGE) throw authFailed();
    const tokens = this.#pattern.messages[this.#index]!;
    // Length checks first: the tokens and the payload tag must fit before any work is done.
    let need = 0;
    let keyed = this.#ss.cipher.hasKey;
    for (const t of tokens) {
      if (t === "e") need += KEY_LEN;
      else if (t === "s") need += KEY_LEN + (keyed ? TAG_LEN : 0);
      else keyed = true;
    }
    if (message.length < need + (keyed ? TAG_LEN : 0)) throw authFailed();
    let off = 0;
    for (const t of tokens) {
      if (t === "e") {
        this.#re = message.slice(off, off + KEY_LEN);
        off += KEY_LEN;
        this.#ss.mixHash(this.#re);
      } else if (t === "s") {
        const len = KEY_LEN + (this.#ss.cipher.hasKey ? TAG_LEN : 0);
        this.#rs = this.#ss.decryptAndHash(message.subarray(off, off + len));
        off += len;
      } else {
        this.#dhToken(t);
      }
    }
    const hashBeforePayload = this.#ss.h;
    const payload = this.#ss.decryptAndHash(message.subarray(off));
    this.#index++;
    return { payload, hashBeforePayload };
  }

  /**
   * Split()'s two raw 32-byte keys, [initiator→responder, responder→initiator], for layers that
   * derive their own keys from them (the end-to-end symmetric ratchet uses them as chain keys).
   */
  splitRaw(): [Uint8Array, Uint8Array] {
    if (!this.complete) throw new ProtocolError("internal", "Handshake not complete");
    const [k1, k2] = noiseHkdf(this.#ss.ck, new Uint8Array(), 2);
    return [k1!, k2!];
  }

  /** Split() after the last message: [initiator→responder, responder→initiator]. */
  split(): [CipherState, CipherState] {
    if (!this.complete) throw new ProtocolError("internal", "Handshake not complete");
    return this.#ss.split();
  }
}
