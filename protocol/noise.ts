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
import { type DhKeyPair, dhSync, generateDhSync, noiseHkdf } from "./_crypto.ts";
import { aesGcmNonce } from "./_aead.ts";
import { type CipherState, SymmetricState } from "./_noise_symmetric.ts";
import { KEY_LEN, NOISE_MAX_MESSAGE, TAG_LEN } from "./constants.ts";

export { aesGcmNonce };
export { CipherState, MAX_NONCE, SymmetricState } from "./_noise_symmetric.ts";

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
