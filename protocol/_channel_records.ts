/**
 * The bookkeeping of channel.ts's records: the queue of frames that become one record each
 * flush (up to MAX_RECORD), and the nonce counters of both directions with the limits (records
 * and bytes) after which the link must be keyed again.
 *
 * @module
 */
import { MAX_RECORD, MAX_WIRE_MESSAGE } from "./constants.ts";
import { aesGcmNonce } from "./_aead.ts";

/** Encoded frames waiting to be sealed, in push order. */
export class FrameQueue {
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;

  /** Frames queued. */
  get length(): number {
    return this.#pending.length;
  }

  /** Bytes queued. */
  get bytes(): number {
    return this.#pendingBytes;
  }

  /** Queues one encoded frame. */
  push(frame: Uint8Array): void {
    this.#pending.push(frame);
    this.#pendingBytes += frame.length;
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
    if (count === 1) return parts[0]!;
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
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

  /** The nonce of the next record sent (the counter moves on). */
  nextSendNonce(): Uint8Array {
    return aesGcmNonce(this.#sendN++);
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

  /** The nonce of the next record received (the counter moves on). */
  nextRecvNonce(): Uint8Array {
    return aesGcmNonce(this.#recvN++);
  }
}
