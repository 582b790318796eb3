/**
 * The relay-wide bound on bytes queued towards sessions.
 *
 * Each session's queue is capped (`maxQueueBytes`), but many recipients that read slowly could
 * each fill theirs: 10,000 sessions × 8 MiB is 80 GiB. The budget caps the sum of what DELIVERs
 * hold (`maxTotalQueueBytes`); a DELIVER past it is refused like one past its session's cap
 * (`recipient_busy`, the sender retries later), so memory stays flat under any load.
 *
 * Counting without hooks into every write: a session is charged what it was given, and its
 * charge is brought down to what it still holds (`queued()`, plaintext waiting plus sealed bytes
 * not yet written) whenever it is given more, and for all charged sessions when the budget looks
 * full (at most once per SWEEP_MS: the work is bounded by the sessions charged, not by the rate).
 * A charge is never below what the session holds of DELIVERs, so the bound holds; it may be
 * above it for up to SWEEP_MS, which only refuses a little early.
 *
 * @module
 */

/** A session that can be charged: what it holds queued now, in bytes. */
export interface Queued {
  queued(): number;
}

/** Shortest time between two sweeps of every charged session (ms). */
export const SWEEP_MS = 5;

/**
 * Bytes queued towards sessions, relay-wide.
 *
 * @example
 * ```ts
 * const budget = new QueueBudget(32 * 1024 * 1024);
 * if (!budget.take(link, frame.length)) refuse("recipient_busy");
 * budget.release(link); // closed
 * ```
 */
export class QueueBudget {
  readonly #charged = new Map<Queued, number>();
  #used = 0;
  #lastSweep = -Infinity;

  /** @param max bytes at most; @param now the clock (ms) */
  constructor(
    readonly max: number,
    readonly now: () => number = performance.now.bind(performance),
  ) {}

  /** Bytes charged now (an upper bound on what DELIVERs hold). */
  get used(): number {
    return this.#used;
  }

  /** Brings every charge down to what its session still holds, and returns `used` (metrics). */
  measure(): number {
    for (const c of this.#charged.keys()) this.#refresh(c);
    return this.#used;
  }

  /** Sessions charged now. */
  get sessions(): number {
    return this.#charged.size;
  }

  /** Charges `n` bytes to `s`, or returns false if that would pass the budget. */
  take(s: Queued, n: number): boolean {
    this.#refresh(s);
    if (this.#used + n > this.max) {
      const t = this.now();
      if (t - this.#lastSweep < SWEEP_MS) return false;
      this.#lastSweep = t;
      for (const c of this.#charged.keys()) this.#refresh(c);
      if (this.#used + n > this.max) return false;
    }
    this.#charged.set(s, (this.#charged.get(s) ?? 0) + n);
    this.#used += n;
    return true;
  }

  /** Drops `s`'s charge (it closed: what it held is gone). */
  release(s: Queued): void {
    const c = this.#charged.get(s);
    if (c === undefined) return;
    this.#charged.delete(s);
    this.#used -= c;
  }

  #refresh(s: Queued): void {
    const c = this.#charged.get(s);
    if (c === undefined) return;
    const q = s.queued();
    if (q >= c) return;
    this.#used -= c - q;
    if (q === 0) this.#charged.delete(s);
    else this.#charged.set(s, q);
  }
}
