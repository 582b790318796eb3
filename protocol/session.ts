/**
 * An established end-to-end session: a symmetric ratchet over the two keys of the Noise XX
 * handshake's Split().
 *
 * Why a ratchet: every message gets its own key, `mk = HMAC(ck, 0x01)`, and the chain moves on,
 * `ck = HMAC(ck, 0x02)` (Signal's KDF_CK). Used keys are forgotten, so a later theft of the
 * session state cannot decrypt earlier messages (forward secrecy per message). Keys skipped by
 * dropped messages are kept, bounded, for late arrivals. The full Double Ratchet would replace
 * the chain step here without changing the callers (seal/open/serialize).
 *
 * State advances only after a successful decryption, so a tampered message is rejected and the
 * session stays intact; a replayed message finds its key gone and is rejected.
 *
 * @module
 */
import { concat, fromBase64Url, toBase64Url } from "./bytes.ts";
import { createCipheriv, createDecipheriv } from "node:crypto";
import { MAX_SKIP, MAX_SKIPPED_KEYS, SKIP_SLICE, TAG_LEN } from "./constants.ts";
import { hmacSha256 } from "./_crypto.ts";
import { authFailed, ProtocolError } from "./errors.ts";
import { encodeEnvelope, type Envelope } from "./envelope.ts";

const MK = Uint8Array.of(1);
const CK = Uint8Array.of(2);
const ZERO_IV = new Uint8Array(12);

/** One ratchet step: the message key and the next chain key. */
export function chainStep(ck: Uint8Array): { mk: Uint8Array; next: Uint8Array } {
  return { mk: hmacSha256(ck, MK), next: hmacSha256(ck, CK) };
}

/** A session in storable form (base64url strings). */
export interface SessionJson {
  sid: string;
  sendCk: string;
  sendN: number;
  recvCk: string;
  recvN: number;
  skipped: [number, string][];
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/**
 * AES-256-GCM with the message key, synchronously with node:crypto: an envelope is at most
 * 64 KiB, so a call takes at most ~0.5 ms here and usually ~5 µs (256- and 1024-byte classes),
 * against two awaited WebCrypto hops (importKey, then encrypt) of 30–90 µs each. Each message key
 * is used exactly once, so a fixed nonce is safe (as in Signal). Throws when the tag is wrong.
 */
function aes(mode: "encrypt" | "decrypt", mk: Uint8Array, ad: Uint8Array, data: Uint8Array) {
  if (mode === "encrypt") {
    const c = createCipheriv("aes-256-gcm", mk, ZERO_IV);
    c.setAAD(ad);
    return concat(c.update(data), c.final(), c.getAuthTag());
  }
  if (data.length < TAG_LEN) throw new Error("short ciphertext");
  const d = createDecipheriv("aes-256-gcm", mk, ZERO_IV);
  d.setAAD(ad);
  d.setAuthTag(data.subarray(data.length - TAG_LEN));
  return concat(d.update(data.subarray(0, data.length - TAG_LEN)), d.final());
}

/**
 * One end-to-end session.
 *
 * @example
 * ```ts
 * const env = await session.seal(padded, ad);
 * const inner = await peerSession.open(parseEnvelope(env), ad);
 * ```
 */
export class E2ESession {
  /** The session id: the first 8 bytes of the handshake hash. */
  readonly sid: Uint8Array;
  #sendCk: Uint8Array;
  #sendN: number;
  #recvCk: Uint8Array;
  #recvN: number;
  readonly #skipped: Map<number, Uint8Array>;

  private constructor(
    j: {
      sid: Uint8Array;
      sendCk: Uint8Array;
      sendN: number;
      recvCk: Uint8Array;
      recvN: number;
      skipped: Map<number, Uint8Array>;
    },
  ) {
    this.sid = j.sid;
    this.#sendCk = j.sendCk;
    this.#sendN = j.sendN;
    this.#recvCk = j.recvCk;
    this.#recvN = j.recvN;
    this.#skipped = j.skipped;
  }

  /** Starts a session from a finished handshake. */
  static fromHandshake(
    h: Uint8Array,
    split: [Uint8Array, Uint8Array],
    initiator: boolean,
  ): E2ESession {
    const [i2r, r2i] = split;
    return new E2ESession({
      sid: h.slice(0, 8),
      sendCk: initiator ? i2r : r2i,
      sendN: 0,
      recvCk: initiator ? r2i : i2r,
      recvN: 0,
      skipped: new Map(),
    });
  }

  /** Messages sealed so far. */
  get sendCount(): number {
    return this.#sendN;
  }

  /** The counter of the next message expected (keys below it are used or skipped). */
  get recvN(): number {
    return this.#recvN;
  }

  /** How many keys opening a MSG with counter `n` would derive (0 for the next one or older). */
  gapTo(n: number): number {
    return n > this.#recvN ? n - this.#recvN : 0;
  }

  /** The counter of a MSG envelope's body, or -1 if it is too short to have one. */
  static counterOf(env: Envelope): number {
    if (env.body.length < 4 + 16) return -1;
    return new DataView(env.body.buffer, env.body.byteOffset, 4).getUint32(0);
  }

  /**
   * Seals a padded inner payload into a MSG envelope. `ad` binds sender and recipient ids.
   * The chain advances before the ciphertext exists: the caller must persist the session
   * before the envelope leaves, so no key is ever used twice even across a crash.
   */
  async seal(padded: Uint8Array, ad: Uint8Array): Promise<Uint8Array> {
    return await Promise.resolve(this.sealSync(padded, ad));
  }

  /** `seal`, synchronously (the AEAD is synchronous; see `aes`). */
  sealSync(padded: Uint8Array, ad: Uint8Array): Uint8Array {
    const n = this.#sendN;
    if (n >= 2 ** 32 - 1) throw new ProtocolError("rekey", "Session exhausted; re-handshake");
    const { mk, next } = chainStep(this.#sendCk);
    this.#sendCk = next;
    this.#sendN = n + 1;
    const header = encodeEnvelope("msg", this.sid, new Uint8Array()); // 10-byte header
    const nb = u32(n);
    const ct = aes("encrypt", mk, concat(header, nb, ad), padded);
    return concat(header, nb, ct);
  }

  /**
   * Opens a MSG envelope. The state changes only when decryption succeeds. Skipped keys are
   * derived SKIP_SLICE at a time, awaiting `pause` (if given) between slices, so that a caller
   * can keep its event loop responsive; the caller must not use the session meanwhile.
   */
  async open(
    env: Envelope,
    ad: Uint8Array,
    pause?: () => Promise<void>,
  ): Promise<Uint8Array> {
    if (env.body.length < 4 + 16) throw authFailed();
    const n = new DataView(env.body.buffer, env.body.byteOffset, 4).getUint32(0);
    const aad = concat(env.header, env.body.subarray(0, 4), ad);
    const ct = env.body.subarray(4);
    if (n < this.#recvN) {
      const mk = this.#skipped.get(n);
      if (!mk) throw new ProtocolError("replayed", `Message ${n} was already received`);
      const pt = this.#tryOpen(mk, aad, ct);
      this.#skipped.delete(n);
      return pt;
    }
    if (n - this.#recvN > MAX_SKIP) {
      throw new ProtocolError("session_unknown", `Message ${n} is too far ahead of ${this.#recvN}`);
    }
    let ck = this.#recvCk;
    const skipped: [number, Uint8Array][] = [];
    for (let i = this.#recvN; i < n; i++) {
      if (pause && i > this.#recvN && (i - this.#recvN) % SKIP_SLICE === 0) await pause();
      const s = chainStep(ck);
      skipped.push([i, s.mk]);
      ck = s.next;
    }
    const { mk, next } = chainStep(ck);
    const pt = this.#tryOpen(mk, aad, ct);
    this.#recvCk = next;
    this.#recvN = n + 1;
    for (const [i, k] of skipped.slice(-MAX_SKIPPED_KEYS)) this.#skipped.set(i, k);
    while (this.#skipped.size > MAX_SKIPPED_KEYS) {
      this.#skipped.delete(this.#skipped.keys().next().value!);
    }
    return pt;
  }

  #tryOpen(mk: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
    try {
      return aes("decrypt", mk, aad, ct);
    } catch {
      throw authFailed();
    }
  }

  /** The storable form. */
  toJSON(): SessionJson {
    return {
      sid: toBase64Url(this.sid),
      sendCk: toBase64Url(this.#sendCk),
      sendN: this.#sendN,
      recvCk: toBase64Url(this.#recvCk),
      recvN: this.#recvN,
      skipped: [...this.#skipped].map(([n, k]) => [n, toBase64Url(k)]),
    };
  }

  /** Restores a stored session. */
  static fromJSON(j: SessionJson): E2ESession {
    return new E2ESession({
      sid: fromBase64Url(j.sid),
      sendCk: fromBase64Url(j.sendCk),
      sendN: j.sendN,
      recvCk: fromBase64Url(j.recvCk),
      recvN: j.recvN,
      skipped: new Map(j.skipped.map(([n, k]) => [n, fromBase64Url(k)])),
    });
  }
}
