/**
 * Link version 2's cumulative ACKs, on one clock for the whole relay.
 *
 * A version-2 session answers a delivered SEND with no frame of its own: the relay notes the
 * SEND's seq, and the next record it seals for that session carries `ACK(seq)` at its end
 * (Channel's `trailer`). A session that gets no record within ACK_DELAY_MS is sent one holding
 * just the ACK. Why one clock: a timer per session would cost a timer per answer at high rates;
 * here one timer runs while any ACK is due, and none while the relay is idle.
 *
 * @module
 */
import { ACK_DELAY_MS } from "../protocol/constants.ts";

/** A session with an ACK that may become due. */
export interface Acker {
  /** Sends its due ACK now, if it still has one. */
  flushAck(): void;
}

/**
 * The relay's ACK clock.
 *
 * @example
 * ```ts
 * const acks = new AckClock();
 * acks.due(link); // link.flushAck() runs within ACK_DELAY_MS unless the link sent it before
 * acks.stop();
 * ```
 */
export class AckClock {
  #due = new Set<Acker>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** @param delayMs the longest an ACK waits (the protocol's ACK_DELAY_MS) */
  constructor(readonly delayMs = ACK_DELAY_MS) {}

  /** Sessions waiting now (tests). */
  get size(): number {
    return this.#due.size;
  }

  /** Notes that `a` owes an ACK; it is flushed within the delay unless it goes out before. */
  due(a: Acker): void {
    this.#due.add(a);
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => this.#tick(), this.delayMs);
    Deno.unrefTimer(this.#timer);
  }

  /** Forgets `a` (its ACK went out with another record, or it closed). */
  done(a: Acker): void {
    this.#due.delete(a);
  }

  #tick(): void {
    this.#timer = undefined;
    const due = this.#due;
    this.#due = new Set();
    for (const a of due) a.flushAck();
  }

  /** Stops the clock (relay shutdown). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#due.clear();
  }
}
