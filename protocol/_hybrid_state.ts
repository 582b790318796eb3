/**
 * The hybrid end-to-end handshake's state machine: Noise XX with the HFS extension ("hfs",
 * https://github.com/noiseprotocol/noise_hfs_spec) and ML-KEM-768 as the KEM:
 *
 * ```
 * XXhfs:  -> e, e1
 *         <- e, ee, ekem1, s, es
 *         -> s, se
 * ```
 *
 * `e1`: the initiator's ephemeral ML-KEM-768 encapsulation key, sent with EncryptAndHash (in the
 * clear in message 1: no key yet). `ekem1`: the responder encapsulates to it, sends the ciphertext
 * with EncryptAndHash (encrypted under the key from `ee`), and both sides MixKey(shared secret):
 * from then on the chaining key, hence every later key and Split()'s outputs, depends on both the
 * DH results and the KEM secret. The symmetric state is noise.ts's SymmetricState, unchanged.
 *
 * Pure: no I/O; randomness (the X25519 ephemeral, the KEM seed and the encapsulation coins) can be
 * injected. Any failure closes the state for good: every later call throws.
 *
 * @module
 */
import { concat } from "./bytes.ts";
import { type DhKeyPair, dhSync, generateDhSync, noiseHkdf } from "./_crypto.ts";
import { authFailed, ProtocolError } from "./errors.ts";
import { SymmetricState } from "./noise.ts";
import { kemDecapsulate, kemEncapsulate, kemPublic } from "./_ratchet_keys.ts";
import {
  KEY_LEN,
  MLKEM_CIPHERTEXT_LEN,
  MLKEM_PUBLIC_KEY_LEN,
  MLKEM_RANDOM_LEN,
  MLKEM_SEED_LEN,
  MLKEM_SHARED_LEN,
  NOISE_MAX_MESSAGE,
  TAG_LEN,
} from "./constants.ts";

/** The Noise protocol name: distinct from `Noise_XX_25519_AESGCM_SHA256`, so h never matches. */
export const HYBRID_PROTOCOL_NAME = "Noise_XXhfs_25519+MLKEM768_AESGCM_SHA256";

/** The KEM operations the handshake uses; tests may inject their own. */
export interface HybridKem {
  /** The encapsulation key of a 64-byte seed. */
  publicKey(seed: Uint8Array): Uint8Array;
  /** Encapsulates to `pub` with 32 random bytes. */
  encapsulate(pub: Uint8Array, random: Uint8Array): { ct: Uint8Array; ss: Uint8Array };
  /** Decapsulates `ct` with the key of `seed`. */
  decapsulate(ct: Uint8Array, seed: Uint8Array): Uint8Array;
}

/** ML-KEM-768 (FIPS 203) through _ratchet_keys.ts. */
export const ML_KEM_768: HybridKem = {
  publicKey: kemPublic,
  encapsulate: kemEncapsulate,
  decapsulate: kemDecapsulate,
};

/** Options of a hybrid handshake. */
export interface HybridOptions {
  /** True on the side that sends the first message. */
  initiator: boolean;
  /** Bytes both sides must agree on; mixed into the handshake hash. */
  prologue: Uint8Array;
  /** Our static X25519 key pair. */
  s: DhKeyPair;
  /** A fixed X25519 ephemeral (tests); otherwise generated. */
  e?: DhKeyPair;
  /** The random source for the KEM seed (64) and encapsulation coins (32); default the CSPRNG. */
  random?: (n: number) => Uint8Array;
  /** The KEM; default ML-KEM-768. */
  kem?: HybridKem;
}

/**
 * MixKey(KEM shared secret): the whole 32-byte secret is the HKDF input, checked for length so a
 * truncated or empty secret can never be mixed in silently.
 */
export function mixKemSecret(ss: SymmetricState, secret: Uint8Array): void {
  if (!(secret instanceof Uint8Array) || secret.length !== MLKEM_SHARED_LEN) throw authFailed();
  ss.mixKey(secret);
}

function defaultRandom(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

function checked(b: Uint8Array, n: number): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== n) {
    throw new TypeError(`random source returned ${b?.length} bytes, not ${n}`);
  }
  return b.slice();
}

type Token = "e" | "e1" | "ee" | "ekem1" | "s" | "es" | "se";
const MESSAGES: Token[][] = [["e", "e1"], ["e", "ee", "ekem1", "s", "es"], ["s", "se"]];

/** A Noise HandshakeState for XXhfs with X25519 and ML-KEM-768. */
export class HybridHandshakeState {
  readonly #ss = new SymmetricState(HYBRID_PROTOCOL_NAME);
  readonly #initiator: boolean;
  readonly #s: DhKeyPair;
  readonly #random: (n: number) => Uint8Array;
  readonly #kem: HybridKem;
  #e: DhKeyPair | undefined;
  #re: Uint8Array | undefined;
  #rs: Uint8Array | undefined;
  #e1Seed: Uint8Array | undefined;
  #re1: Uint8Array | undefined;
  #index = 0;
  #closed = false;

  /** Initialize(XXhfs, initiator, prologue, s). */
  constructor(opts: HybridOptions) {
    this.#initiator = opts.initiator;
    this.#s = opts.s;
    this.#e = opts.e;
    this.#random = opts.random ?? defaultRandom;
    this.#kem = opts.kem ?? ML_KEM_768;
    this.#ss.mixHash(opts.prologue);
  }

  /** True once every message has been written or read. */
  get complete(): boolean {
    return this.#index >= MESSAGES.length;
  }

  /** True once a failure has closed the handshake. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True when it is our turn to write. */
  get isMyTurn(): boolean {
    return (this.#index % 2 === 0) === this.#initiator;
  }

  /** The peer's static public key, once known. */
  get remoteStatic(): Uint8Array | undefined {
    return this.#rs;
  }

  /** The handshake hash h. */
  get handshakeHash(): Uint8Array {
    return this.#ss.h;
  }

  #guard(write: boolean): void {
    if (this.#closed) throw new ProtocolError("internal", "Handshake closed after a failure");
    if (this.complete || this.isMyTurn !== write) {
      throw new ProtocolError("internal", `Handshake: not our turn to ${write ? "write" : "read"}`);
    }
  }

  /** Closes the handshake for good (a failed check above this layer); idempotent. */
  close(): void {
    this.#closed = true;
    this.#e1Seed?.fill(0);
    this.#e1Seed = undefined;
  }

  #fail(e: unknown): never {
    this.close();
    throw e;
  }

  #dh(t: "ee" | "es" | "se"): void {
    const mine = t === "ee" || (t === "es") === this.#initiator ? this.#e : this.#s;
    const theirs = t === "ee" || (t === "se") === this.#initiator ? this.#re : this.#rs;
    if (!mine || !theirs) throw new ProtocolError("internal", `Missing key for token ${t}`);
    this.#ss.mixKey(dhSync(mine, theirs));
  }

  /** WriteMessage(payload); the payload may be a function of h after this message's tokens. */
  async writeMessage(
    payload: Uint8Array | ((h: Uint8Array) => Uint8Array | Promise<Uint8Array>),
  ): Promise<Uint8Array> {
    this.#guard(true);
    try {
      const parts: Uint8Array[] = [];
      for (const t of MESSAGES[this.#index]!) {
        if (t === "e") {
          this.#e ??= generateDhSync();
          parts.push(this.#e.publicKey);
          this.#ss.mixHash(this.#e.publicKey);
        } else if (t === "e1") {
          this.#e1Seed = checked(this.#random(MLKEM_SEED_LEN), MLKEM_SEED_LEN);
          parts.push(this.#ss.encryptAndHash(this.#kem.publicKey(this.#e1Seed)));
        } else if (t === "ekem1") {
          if (!this.#re1) throw new ProtocolError("internal", "Missing key for token ekem1");
          const coins = checked(this.#random(MLKEM_RANDOM_LEN), MLKEM_RANDOM_LEN);
          const { ct, ss } = this.#kem.encapsulate(this.#re1, coins);
          parts.push(this.#ss.encryptAndHash(ct));
          mixKemSecret(this.#ss, ss);
        } else if (t === "s") {
          parts.push(this.#ss.encryptAndHash(this.#s.publicKey));
        } else {
          this.#dh(t);
        }
      }
      const body = typeof payload === "function" ? await payload(this.#ss.h) : payload;
      parts.push(this.#ss.encryptAndHash(body));
      const msg = concat(...parts);
      if (msg.length > NOISE_MAX_MESSAGE) {
        throw new ProtocolError("too_large", `Handshake message of ${msg.length} bytes`);
      }
      this.#index++;
      return msg;
    } catch (e) {
      this.#fail(e);
    }
  }

  /** ReadMessage(message): any failure is auth_failed and closes the handshake. */
  readMessage(message: Uint8Array): Promise<{ payload: Uint8Array }> {
    try {
      this.#guard(false);
    } catch (e) {
      return Promise.reject(e);
    }
    try {
      return Promise.resolve(this.#read(message));
    } catch (e) {
      try {
        this.#fail(e instanceof ProtocolError ? e : authFailed());
      } catch (f) {
        return Promise.reject(f);
      }
    }
  }

  #read(message: Uint8Array): { payload: Uint8Array } {
    if (message.length > NOISE_MAX_MESSAGE) throw authFailed();
    const tokens = MESSAGES[this.#index]!;
    // Exact lengths: every token's size is fixed, and the payload must hold at least its tag.
    let need = 0;
    let keyed = this.#ss.cipher.hasKey;
    const tag = () => (keyed ? TAG_LEN : 0);
    for (const t of tokens) {
      if (t === "e") need += KEY_LEN;
      else if (t === "e1") need += MLKEM_PUBLIC_KEY_LEN + tag();
      else if (t === "ekem1") {
        need += MLKEM_CIPHERTEXT_LEN + tag();
        keyed = true;
      } else if (t === "s") need += KEY_LEN + tag();
      else keyed = true;
    }
    if (message.length < need + tag()) throw authFailed();
    let off = 0;
    const take = (n: number) => {
      const len = n + (this.#ss.cipher.hasKey ? TAG_LEN : 0);
      const part = message.subarray(off, off + len);
      off += len;
      return this.#ss.decryptAndHash(part).slice();
    };
    for (const t of tokens) {
      if (t === "e") {
        this.#re = message.slice(off, off + KEY_LEN);
        off += KEY_LEN;
        this.#ss.mixHash(this.#re);
      } else if (t === "e1") {
        this.#re1 = take(MLKEM_PUBLIC_KEY_LEN);
      } else if (t === "ekem1") {
        if (!this.#e1Seed) throw new ProtocolError("internal", "Missing key for token ekem1");
        const ct = take(MLKEM_CIPHERTEXT_LEN);
        const ss = this.#kem.decapsulate(ct, this.#e1Seed);
        this.#e1Seed.fill(0);
        this.#e1Seed = undefined;
        mixKemSecret(this.#ss, ss);
      } else if (t === "s") {
        this.#rs = take(KEY_LEN);
      } else {
        this.#dh(t);
      }
    }
    const payload = this.#ss.decryptAndHash(message.subarray(off));
    this.#index++;
    return { payload };
  }

  /** Split()'s two raw keys, [initiator→responder, responder→initiator]. */
  splitRaw(): [Uint8Array, Uint8Array] {
    if (this.#closed || !this.complete) {
      throw new ProtocolError("internal", "Handshake not complete");
    }
    const [k1, k2] = noiseHkdf(this.#ss.ck, new Uint8Array(), 2);
    return [k1!, k2!];
  }
}
