/**
 * A link's bounded send queue: the frames waiting for the relay's frame rate, the bounds past
 * which SENDs are refused as `busy`, and the SENDs waiting for their RESULT (or version 2's
 * ACK). Used only by link_client.ts.
 *
 * @module
 */
import { encodeFrame } from "../protocol/frames.ts";
import type { TokenBucket } from "../protocol/token_bucket.ts";
import type { SendResult } from "./link_client.ts";

const DELIVERED: SendResult = Object.freeze({ status: "delivered", code: null });

/**
 * How much one link may hold before SENDs are refused as `busy`: frames waiting for the relay's
 * frame rate (a second's worth at the default 5,000/s, paced at 90 %), or bytes in all (waiting,
 * in the record layer and in the socket; the relay's own queue per session is 8 MiB). Why: a
 * caller that sends faster than the relay takes would otherwise grow this queue without end
 * (1.3 GiB was seen); now it learns at once and retries later.
 */
export const LINK_QUEUE_LIMITS = { frames: 4500, bytes: 8 * 1024 * 1024 } as const;

/** The paced frames and the pending SENDs of one link. */
export class LinkSendQueue {
  readonly #push: (frame: Uint8Array) => void;
  readonly #isClosed: () => boolean;
  readonly #pending = new Map<number, (r: SendResult) => void>();
  #seq = 0;
  /** Paces frames a little under the relay's frame rate; set when the WELCOME comes. */
  bucket: TokenBucket | undefined;
  #paced: Uint8Array[] = [];
  #pacedBytes = 0;
  #pumpTimer: ReturnType<typeof setTimeout> | undefined;

  /** A queue that hands paced frames to `push` (the record layer) while `isClosed` is false. */
  constructor(push: (frame: Uint8Array) => void, isClosed: () => boolean) {
    this.#push = push;
    this.#isClosed = isClosed;
  }

  /** SENDs for which no RESULT came yet. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** How many more SENDs fit, with `queuedBytes` in the record layer and the socket. */
  room(queuedBytes: number): number {
    const bytes = LINK_QUEUE_LIMITS.bytes - this.#pacedBytes - queuedBytes;
    if (bytes <= 0) return 0;
    return Math.max(0, LINK_QUEUE_LIMITS.frames - this.#paced.length);
  }

  /** Queues a SEND under the next seq; resolves with its RESULT. */
  send(to: Uint8Array, envelope: Uint8Array): Promise<SendResult> {
    const seq = this.#seq;
    this.#seq = (this.#seq + 1) >>> 0;
    const p = new Promise<SendResult>((r) => this.#pending.set(seq, r));
    this.pushPaced(encodeFrame({ type: "send", seq, to, envelope }));
    return p;
  }

  /** The RESULT of SEND `seq`. */
  result(seq: number, result: SendResult): void {
    const r = this.#pending.get(seq);
    if (r) {
      this.#pending.delete(seq);
      r(result);
    }
  }

  /**
   * Version 2: every SEND up to `upto` that got no RESULT was delivered. Pending SENDs are in
   * seq order (the map keeps insertion order); seqs wrap at 2^32, so "up to" is a distance.
   */
  ack(upto: number): void {
    for (const [seq, r] of this.#pending) {
      if (((upto - seq) >>> 0) >= 2 ** 31) break; // after upto
      this.#pending.delete(seq);
      r(DELIVERED);
    }
  }

  /** The link closed: drops the frames still waiting for the frame rate. */
  dropPaced(): void {
    clearTimeout(this.#pumpTimer);
    this.#paced = [];
    this.#pacedBytes = 0;
  }

  /** The link closed: every pending SEND resolves as `rejected`/`internal`. */
  rejectPending(): void {
    for (const r of this.#pending.values()) r({ status: "rejected", code: "internal" });
    this.#pending.clear();
  }

  /** Hands `frame` on now if the frame rate allows and nothing waits, else queues it. */
  pushPaced(frame: Uint8Array): void {
    if (this.#paced.length === 0 && this.bucket!.take(Date.now())) {
      this.#push(frame);
      return;
    }
    this.#paced.push(frame);
    this.#pacedBytes += frame.length;
    this.#schedulePump();
  }

  #schedulePump(): void {
    if (this.#pumpTimer !== undefined || this.#isClosed()) return;
    const wait = Math.max(1, this.bucket!.waitMs(Date.now()));
    this.#pumpTimer = setTimeout(() => {
      this.#pumpTimer = undefined;
      const now = Date.now();
      let n = 0;
      while (n < this.#paced.length && this.bucket!.take(now)) n++;
      for (const f of this.#paced.splice(0, n)) {
        this.#pacedBytes -= f.length;
        this.#push(f);
      }
      if (this.#paced.length > 0) this.#schedulePump();
    }, wait);
  }
}
