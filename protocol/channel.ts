/**
 * The link record layer: frames in, encrypted records out, and back.
 *
 * Why this shape: an async WebCrypto call costs ~25 µs of overhead whatever its size, so one
 * call per frame would cap a relay far below a plain WebSocket forwarder. Frames queued while a
 * record is being sealed are coalesced into the next record (up to MAX_RECORD), so an idle link
 * adds no delay and a busy link pays one AES-GCM call for many frames. Nonces are the Noise
 * CipherState counters, taken in order; records are written in nonce order and opened in
 * arrival order, so a replayed, reordered or dropped record fails to decrypt and closes the link.
 *
 * Two AES-256-GCM engines, one cipher: records up to SYNC_RECORD_MAX bytes are sealed and opened
 * synchronously with node:crypto (≈6 µs for a chat-sized record, against ≈30 µs for WebCrypto's
 * hop to a worker thread); larger ones go to WebCrypto, which streams bulk data faster. Both are
 * constant-time AES-GCM (AES-NI, or a bitsliced fallback; no lookup tables), and the bytes on the
 * wire are identical, so the choice is invisible to the peer.
 *
 * Transport-agnostic: the owner passes `write` and reads `onFrames`; no I/O here.
 *
 * @module
 */
import { createCipheriv, createDecipheriv } from "node:crypto";
import {
  LINK_REKEY_AFTER,
  LINK_REKEY_AFTER_BYTES,
  MAX_RECORD,
  MAX_WIRE_MESSAGE,
  TAG_LEN,
} from "./constants.ts";
import { authFailed, ProtocolError } from "./errors.ts";
import { type Frame, parseFrames, type Sender } from "./frames.ts";
import { aesGcmNonce, type CipherState } from "./noise.ts";

const EMPTY = new Uint8Array();

/** Records up to this size (plaintext) are sealed and opened synchronously (see above). */
export const SYNC_RECORD_MAX = 8192;

function sealSync(key: Uint8Array, iv: Uint8Array, plain: Uint8Array): Uint8Array {
  const c = createCipheriv("aes-256-gcm", key, iv);
  const head = c.update(plain);
  const tail = c.final();
  const tag = c.getAuthTag();
  const out = new Uint8Array(head.length + tail.length + tag.length);
  out.set(head, 0);
  out.set(tail, head.length);
  out.set(tag, head.length + tail.length);
  return out;
}

function openSync(key: Uint8Array, iv: Uint8Array, wire: Uint8Array): Uint8Array {
  const d = createDecipheriv("aes-256-gcm", key, iv);
  d.setAuthTag(wire.subarray(wire.length - TAG_LEN));
  const head = d.update(wire.subarray(0, wire.length - TAG_LEN));
  const tail = d.final(); // throws when the tag does not match
  if (tail.length === 0) return new Uint8Array(head.buffer, head.byteOffset, head.length);
  const out = new Uint8Array(head.length + tail.length);
  out.set(head, 0);
  out.set(tail, head.length);
  return out;
}

/** Options of a channel. */
export interface ChannelOptions {
  /** Transport keys from the handshake. */
  send: CipherState;
  recv: CipherState;
  /** Who sends the records we open ("relay" on the daemon side). */
  peer: Sender;
  /** Writes one sealed record to the transport. */
  write(record: Uint8Array): void;
  /** Receives the frames of each opened record, in order. */
  onFrames(frames: Frame[]): void;
  /** Called once when the channel fails (bad record, bad frame, rekey due). */
  onError(e: ProtocolError): void;
  /** Records per direction before a re-handshake; defaults to LINK_REKEY_AFTER. */
  rekeyAfter?: number;
  /** Record bytes per direction before a re-handshake; defaults to LINK_REKEY_AFTER_BYTES. */
  rekeyAfterBytes?: number;
}

/**
 * One direction pair of an established link.
 *
 * @example
 * ```ts
 * const ch = new Channel({ send, recv, peer: "relay", write: (r) => ws.send(r), onFrames, onError });
 * ch.push(encodeFrame({ type: "watch", ids: [id] }));
 * ```
 */
export class Channel {
  readonly #o: ChannelOptions;
  readonly #sendKey: CryptoKey;
  readonly #recvKey: CryptoKey;
  readonly #sendRaw: Uint8Array;
  readonly #recvRaw: Uint8Array;
  readonly #rekeyAfter: number;
  readonly #rekeyAfterBytes: number;
  #sentBytes = 0;
  #openedBytes = 0;
  #sendN: number;
  #recvN: number;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #sealing = false;
  #scheduled = false;
  #inflightBytes = 0;
  #readChain: Promise<void> = Promise.resolve();
  #failed = false;
  #recordsSent = 0;
  #recordsOpened = 0;
  #drainWaiters: (() => void)[] = [];

  /** Takes the two CipherStates' keys and counters. */
  constructor(o: ChannelOptions) {
    this.#o = o;
    this.#sendKey = o.send.cryptoKey();
    this.#recvKey = o.recv.cryptoKey();
    this.#sendRaw = o.send.rawKey();
    this.#recvRaw = o.recv.rawKey();
    this.#sendN = o.send.n;
    this.#recvN = o.recv.n;
    this.#rekeyAfter = o.rekeyAfter ?? LINK_REKEY_AFTER;
    this.#rekeyAfterBytes = o.rekeyAfterBytes ?? LINK_REKEY_AFTER_BYTES;
  }

  /** Plaintext bytes queued or being sealed (for slow-reader checks). */
  get queuedBytes(): number {
    return this.#pendingBytes + this.#inflightBytes;
  }

  /** Records sealed and opened so far. */
  get stats(): { sent: number; opened: number } {
    return { sent: this.#recordsSent, opened: this.#recordsOpened };
  }

  /** True once the channel failed; it then neither sends nor delivers anything. */
  get failed(): boolean {
    return this.#failed;
  }

  /** Queues one encoded frame. Frames are sent in push order. */
  push(frame: Uint8Array): void {
    if (this.#failed) return;
    this.#pending.push(frame);
    this.#pendingBytes += frame.length;
    if (!this.#sealing && !this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  #fail(e: ProtocolError): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#wakeDrained();
    this.#o.onError(e);
  }

  #takeRecord(): Uint8Array {
    let n = 0;
    let count = 0;
    for (const f of this.#pending) {
      if (count > 0 && n + f.length > MAX_RECORD) break;
      n += f.length;
      count++;
    }
    const parts = this.#pending.splice(0, count);
    this.#pendingBytes -= n;
    if (count === 1) return parts[0]!;
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    if (this.#sealing) return;
    this.#sealing = true;
    try {
      while (this.#pending.length > 0 && !this.#failed) {
        if (this.#sendN >= this.#rekeyAfter || this.#sentBytes >= this.#rekeyAfterBytes) {
          this.#fail(new ProtocolError("rekey", "Link key due for renewal"));
          return;
        }
        const record = this.#takeRecord();
        const iv = aesGcmNonce(this.#sendN++);
        let sealed: Uint8Array;
        if (record.length <= SYNC_RECORD_MAX) {
          sealed = sealSync(this.#sendRaw, iv, record);
          // Yield once so frames pushed in this same turn join the next record.
          await Promise.resolve();
        } else {
          this.#inflightBytes = record.length;
          sealed = new Uint8Array(
            await crypto.subtle.encrypt(
              { name: "AES-GCM", iv: iv as BufferSource, additionalData: EMPTY },
              this.#sendKey,
              record as BufferSource,
            ),
          );
          this.#inflightBytes = 0;
        }
        if (this.#failed) return;
        this.#recordsSent++;
        this.#sentBytes += sealed.length;
        this.#o.write(sealed);
      }
    } catch (e) {
      this.#fail(new ProtocolError("internal", `Cannot seal record: ${(e as Error).message}`));
    } finally {
      this.#sealing = false;
      if (this.#pending.length === 0 || this.#failed) this.#wakeDrained();
    }
  }

  #wakeDrained(): void {
    const w = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const f of w) f();
  }

  /** Resolves once every pushed frame has been sealed and written (or the channel failed). */
  drained(): Promise<void> {
    if ((this.#pending.length === 0 && !this.#sealing && !this.#scheduled) || this.#failed) {
      return Promise.resolve();
    }
    return new Promise((r) => this.#drainWaiters.push(r));
  }

  /**
   * Opens one record from the transport. Decryption starts at once (pipelined); frames are
   * handed over strictly in arrival order. Any failure fails the whole channel.
   */
  receive(wire: Uint8Array): void {
    if (this.#failed) return;
    if (wire.length < TAG_LEN + 1 || wire.length > MAX_WIRE_MESSAGE) {
      this.#fail(
        wire.length > MAX_WIRE_MESSAGE
          ? new ProtocolError(
            "too_large",
            `Record of ${wire.length} bytes exceeds ${MAX_WIRE_MESSAGE}`,
          )
          : authFailed(),
      );
      return;
    }
    // The peer may be a little behind in noticing its limit: allow 1024 records (or 256 MiB)
    // of slack, then give up on it.
    this.#openedBytes += wire.length;
    if (
      this.#recvN >= this.#rekeyAfter + 1024 ||
      this.#openedBytes > this.#rekeyAfterBytes + 1024 * MAX_WIRE_MESSAGE
    ) {
      this.#fail(new ProtocolError("rekey", "Peer did not renew the link key"));
      return;
    }
    const iv = aesGcmNonce(this.#recvN++);
    let opening: Promise<ArrayBuffer | Uint8Array>;
    if (wire.length <= SYNC_RECORD_MAX + TAG_LEN) {
      try {
        opening = Promise.resolve(openSync(this.#recvRaw, iv, wire));
      } catch (e) {
        opening = Promise.reject(e);
      }
    } else {
      opening = crypto.subtle.decrypt(
        { name: "AES-GCM", iv: iv as BufferSource, additionalData: EMPTY },
        this.#recvKey,
        wire as BufferSource,
      );
    }
    opening.catch(() => {}); // handled in order below
    this.#readChain = this.#readChain.then(async () => {
      if (this.#failed) return;
      let plain: Uint8Array;
      try {
        const opened = await opening;
        plain = opened instanceof Uint8Array ? opened : new Uint8Array(opened);
      } catch {
        this.#fail(authFailed());
        return;
      }
      if (this.#failed) return;
      let frames: Frame[];
      try {
        frames = parseFrames(plain, this.#o.peer);
      } catch (e) {
        this.#fail(e instanceof ProtocolError ? e : new ProtocolError("bad_frame", String(e)));
        return;
      }
      this.#recordsOpened++;
      try {
        this.#o.onFrames(frames);
      } catch (e) {
        this.#fail(new ProtocolError("internal", `Frame handler failed: ${(e as Error).message}`));
      }
    });
  }

  /** Stops the channel without reporting an error (orderly close). */
  close(): void {
    this.#failed = true;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#wakeDrained();
  }
}
