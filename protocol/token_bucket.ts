/**
 * A token bucket with an injected clock (the protocol layer never reads the clock itself).
 *
 * @example
 * ```ts
 * const b = new TokenBucket(10, 20, 0);
 * b.take(0); // true
 * ```
 * @module
 */

/** A token bucket: `rate` tokens per second, at most `burst` saved up. Starts full. */
export class TokenBucket {
  #tokens: number;
  #last: number;

  /** Starts full at time `now` (ms). */
  constructor(readonly rate: number, readonly burst: number, now: number) {
    this.#tokens = burst;
    this.#last = now;
  }

  #refill(now: number): void {
    const dt = Math.max(0, now - this.#last) / 1000;
    this.#last = Math.max(this.#last, now);
    this.#tokens = Math.min(this.burst, this.#tokens + dt * this.rate);
  }

  /** Takes `n` tokens if there are enough; false otherwise (nothing taken). */
  take(now: number, n = 1): boolean {
    this.#refill(now);
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }

  /** Milliseconds until `n` tokens are available (0 if they are now). */
  waitMs(now: number, n = 1): number {
    this.#refill(now);
    return this.#tokens >= n ? 0 : Math.ceil(((n - this.#tokens) / this.rate) * 1000);
  }

  /** True when the bucket is full again (its state can be dropped). */
  isFull(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= this.burst;
  }
}
