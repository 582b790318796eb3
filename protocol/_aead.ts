/**
 * AES-256-GCM for the link, behind one interface: the record layer (channel.ts) and the Noise
 * CipherState (noise.ts) call only `sealSync`/`openSync` and `sealAsync`/`openAsync` here.
 *
 * Why this choice, measured on the project's 2-core AMD EPYC (AES-NI, VAES, PCLMULQDQ) under
 * Deno 2.9.6, per operation, main-thread CPU (what bounds the relay) and in total:
 *
 * | engine                                   | 64 B   | 1 KiB record | 8 KiB   | 64 KiB        |
 * | ---------------------------------------- | ------ | ------------ | ------- | ------------- |
 * | node:crypto, synchronous (this module)   | 6.6 µs | 11 µs        | 50 µs   | 387 µs        |
 * | WebCrypto, 1 in flight                   | 44 µs  | 47 µs (main 24) | 50 µs | 143 µs      |
 * | WebCrypto, 16 in flight per key          | 10 µs  | 10 µs (main 7.9, all threads 15) | 15 µs | 77 µs |
 * | OpenSSL 3 libcrypto through Deno FFI     | 0.4 µs | 1.0 µs       | 2.5 µs  | 15 µs         |
 *
 * - node:crypto runs on the calling thread with no hop: the cheapest in total CPU for the
 *   chat-sized records a link carries (≤ 8 KiB), so those are sealed and opened synchronously.
 *   It is RustCrypto's `aes`/`ghash` underneath: AES-NI and CLMUL, constant-time.
 * - WebCrypto pipelined takes less of the main thread (7.9 µs) but more CPU in all (15 µs: a
 *   worker thread per call), which on a 2-core box competes with everything else; one call in
 *   flight costs 24 µs of main thread in hops. It streams bulk data fastest, so records over
 *   SYNC_RECORD_MAX go there (async, in order).
 * - OpenSSL through FFI is ten times faster, but needs `--allow-ffi`, which lets native code
 *   past Deno's sandbox, and a hand-written binding whose mistakes would be memory corruption
 *   in a network server; not taken.
 * - Pure-JS AES (noble, stablelib, sjcl, asmcrypto, forge) uses lookup tables (cache-timing
 *   leaks) and is slower than node:crypto; a bitsliced constant-time AES in WebAssembly has no
 *   AES or carry-less-multiply instructions to use and would be slower still (no npm build of
 *   one with GCM is in the registry: `@hazae41/aes.wasm` is AES-128-CTR only).
 *
 * The bytes on the wire are the same whichever engine runs.
 *
 * @module
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import { concat } from "./bytes.ts";
import { TAG_LEN } from "./constants.ts";

/** Plaintexts up to this size are sealed and opened synchronously (see above). */
export const SYNC_RECORD_MAX = 8192;

/** The 12-byte AESGCM nonce of Noise: 32 zero bits then the 64-bit big-endian counter. */
export function aesGcmNonce(n: number): Uint8Array {
  return writeNonce(new Uint8Array(12), n);
}

/** Writes the AESGCM nonce of counter `n` into the 12-byte `iv` and returns it. */
export function writeNonce(iv: Uint8Array, n: number): Uint8Array {
  const hi = Math.floor(n / 2 ** 32);
  const lo = n >>> 0;
  iv.fill(0, 0, 4);
  iv[4] = hi >>> 24;
  iv[5] = (hi >>> 16) & 0xff;
  iv[6] = (hi >>> 8) & 0xff;
  iv[7] = hi & 0xff;
  iv[8] = lo >>> 24;
  iv[9] = (lo >>> 16) & 0xff;
  iv[10] = (lo >>> 8) & 0xff;
  iv[11] = lo & 0xff;
  return iv;
}

/**
 * AES-256-GCM seal on the calling thread, as the parts node:crypto returns them (ciphertext,
 * then the tag; GCM has no final block, so no part in between): a transport that copies them
 * into its own frame anyway (lib/net's WebSocket) saves a join.
 */
export function sealSyncParts(
  key: Uint8Array,
  iv: Uint8Array,
  plain: Uint8Array,
  ad?: Uint8Array,
): Uint8Array[] {
  const c = createCipheriv("aes-256-gcm", key, iv);
  if (ad && ad.length > 0) c.setAAD(ad);
  const head = c.update(plain);
  const tail = c.final();
  const tag = c.getAuthTag();
  return tail.length === 0 ? [head, tag] : [head, tail, tag];
}

/** AES-256-GCM seal on the calling thread: ciphertext ‖ tag. */
export function sealSync(
  key: Uint8Array,
  iv: Uint8Array,
  plain: Uint8Array,
  ad?: Uint8Array,
): Uint8Array {
  return concat(...sealSyncParts(key, iv, plain, ad));
}

/** AES-256-GCM open on the calling thread; throws when the tag does not match. */
export function openSync(
  key: Uint8Array,
  iv: Uint8Array,
  wire: Uint8Array,
  ad?: Uint8Array,
): Uint8Array {
  if (wire.length < TAG_LEN) throw new Error("Cannot open record: shorter than the tag");
  const d = createDecipheriv("aes-256-gcm", key, iv);
  if (ad && ad.length > 0) d.setAAD(ad);
  d.setAuthTag(wire.subarray(wire.length - TAG_LEN));
  const head = d.update(wire.subarray(0, wire.length - TAG_LEN));
  const tail = d.final(); // throws when the tag does not match
  if (tail.length === 0) return new Uint8Array(head.buffer, head.byteOffset, head.length);
  const out = new Uint8Array(head.length + tail.length);
  out.set(head, 0);
  out.set(tail, head.length);
  return out;
}

/** One direction's key for records of any size: raw for the synchronous path, lazily imported. */
export class RecordKey {
  readonly #raw: Uint8Array;
  #key: Promise<CryptoKey> | undefined;

  /** @param raw the 32-byte key */
  constructor(raw: Uint8Array) {
    this.#raw = raw;
  }

  /** The raw key (synchronous path). */
  get raw(): Uint8Array {
    return this.#raw;
  }

  #crypto(): Promise<CryptoKey> {
    return this.#key ??= crypto.subtle.importKey(
      "raw",
      this.#raw as BufferSource,
      "AES-GCM",
      false,
      ["encrypt", "decrypt"],
    );
  }

  /** Seals with WebCrypto (big records). `iv` is copied before the first await. */
  async sealAsync(iv: Uint8Array, plain: Uint8Array): Promise<Uint8Array> {
    iv = iv.slice();
    const k = await this.#crypto();
    return new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "AES-GCM", iv: iv as BufferSource },
        k,
        plain as BufferSource,
      ),
    );
  }

  /**
   * Opens with WebCrypto (big records); rejects when the tag does not match. `iv` is copied
   * before the first await.
   */
  async openAsync(iv: Uint8Array, wire: Uint8Array): Promise<Uint8Array> {
    iv = iv.slice();
    const k = await this.#crypto();
    return new Uint8Array(
      await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: iv as BufferSource },
        k,
        wire as BufferSource,
      ),
    );
  }
}
