/**
 * The bookkeeping of channel.ts's records: the queue of frames that become one record each
 * flush (up to MAX_RECORD), and the nonce counters of both directions with the limits (records
 * and bytes) after which the link must be keyed again.
 *
 * @module
 */
import { MAX_RECORD, MAX_WIRE_MESSAGE } from "./constants.ts";
import { writeNonce } from "./_aead.ts";
import { type LazyFrame, materialize } from "./_frame_lazy.ts";

/** Frames waiting to be sealed (encoded, or lazy: written into the record), in push order. */
export class FrameQueue {
  #pending: (Uint8Array | LazyFrame)[] = [];
  #pendingBytes = 0;

  /** Frames queued. */
  get length(): number {
    return this.#pending.length;
  }

  /** Bytes queued. */
  get bytes(): number {
    return this.#pendingBytes;
  }

  /** Queues one frame. */
  push(frame: Uint8Array | LazyFrame): void {
    this.#pending.push(frame);
    this.#pendingBytes += frame.length;
  }

  /** Encodes the lazy frames queued into bytes of their own, so that they hold no views. */
  materialize(): void {
    this.#pending = this.#pending.map(materialize);
  }

  /** Drops every queued frame. */
  clear(): void {
    this.#pending = [];
    this.#pendingBytes = 0;
  }

  /**
   * Takes the next record's plaintext: the queued frames from the first, as many as fit in
   * MAX_RECORD (at least one). Call only when something is queued.
   */
  take(): Uint8Array {
    let n = 0;
    let count = 0;
    for (const f of this.#pending) {
      if (count > 0 && n + f.length > MAX_RECORD) break;
      n += f.length;
      count++;
    }
    const parts = count === this.#pending.length ? this.#pending : this.#pending.slice(0, count);
    this.#pending = count === this.#pending.length ? [] : this.#pending.slice(count);
    this.#pendingBytes -= n;
    const first = parts[0]!;
    if (count === 1 && first instanceof Uint8Array) return first;
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      if (p instanceof Uint8Array) out.set(p, o);
      else p.write(out, o);
      o += p.length;
    }
    return out;
  }
}

/**
 * The record nonces of both directions (the Noise CipherState counters, taken in order) and
 * the records and bytes each direction has carried, against the rekey limits.
 */
export class RecordCounters {
  readonly #rekeyAfter: number;
  readonly #rekeyAfterBytes: number;
  #sentBytes = 0;
  #openedBytes = 0;
  #sendN: number;
  #recvN: number;
  // One nonce buffer per direction, rewritten for each record: a record's nonce is used
  // synchronously (node:crypto copies it; the WebCrypto path copies it first), and a fresh
  // 12-byte array per record cost an ArrayBuffer allocation (~0.5 µs here) on the hot path.
  readonly #sendIv = new Uint8Array(12);
  readonly #recvIv = new Uint8Array(12);

  /** Starts from the CipherStates' counters, with the limits of both directions. */
  constructor(sendN: number, recvN: number, rekeyAfter: number, rekeyAfterBytes: number) {
    this.#sendN = sendN;
    this.#recvN = recvN;
    this.#rekeyAfter = rekeyAfter;
    this.#rekeyAfterBytes = rekeyAfterBytes;
  }

  /** True once this side has sent as many records or bytes as one key may carry. */
  get sendDue(): boolean {
    return this.#sendN >= this.#rekeyAfter || this.#sentBytes >= this.#rekeyAfterBytes;
  }

  /**
   * The nonce of the next record sent (the counter moves on). The same buffer is rewritten by
   * the next call: use it before then, or copy it.
   */
  nextSendNonce(): Uint8Array {
    return writeNonce(this.#sendIv, this.#sendN++);
  }

  /** Counts the bytes of a sealed record written. */
  sent(bytes: number): void {
    this.#sentBytes += bytes;
  }

  /**
   * Counts a received record of `bytes`; true if the peer is past its limits by more than the
   * slack it is allowed, so the link must fail.
   */
  receiveOverdue(bytes: number): boolean {
    // The peer may be a little behind in noticing its limit: allow 1024 records (or 256 MiB)
    // of slack, then give up on it.
    this.#openedBytes += bytes;
    return this.#recvN >= this.#rekeyAfter + 1024 ||
      this.#openedBytes > this.#rekeyAfterBytes + 1024 * MAX_WIRE_MESSAGE;
  }

  /**
   * The nonce of the next record received (the counter moves on); rewritten by the next call,
   * like nextSendNonce's.
   */
  nextRecvNonce(): Uint8Array {
    return writeNonce(this.#recvIv, this.#recvN++);
  }
}
