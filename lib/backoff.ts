/**
 * Exponential backoff with jitter, for anything that reconnects: each wait is the current delay
 * drawn from `1 ± jitter` of it, the delay then grows by `factor` up to `maxMs`; a success
 * resets it. The one helper for the daemon's relay connection and the CLI's event streams.
 *
 * @module
 */

/** Parameters of a backoff. */
export interface BackoffOptions {
  /** The first delay, in ms. */
  initialMs: number;
  /** The longest delay, in ms. */
  maxMs: number;
  /** Growth per failure (default 2). */
  factor?: number;
  /** Each wait is drawn from [1 − jitter, 1 + jitter] × the delay (default 0: exact). */
  jitter?: number;
  /** Random numbers in [0, 1) (default Math.random; tests pass their own). */
  random?: () => number;
}

/**
 * A backoff's state: how long to wait next.
 *
 * @example
 * ```ts
 * const b = new Backoff({ initialMs: 250, maxMs: 5000 });
 * while (!(await tryConnect())) await b.wait(); // 250, 500, 1000, … 5000 ms
 * b.reset();
 * ```
 */
export class Backoff {
  readonly #o: Required<BackoffOptions>;
  #delay: number;
  #failures = 0;

  /** Makes a backoff at its first delay. */
  constructor(o: BackoffOptions) {
    this.#o = { factor: 2, jitter: 0, random: Math.random, ...o };
    this.#delay = o.initialMs;
  }

  /** Waits taken since the last reset (0: the next one is the first). */
  get failures(): number {
    return this.#failures;
  }

  /** The next wait in ms (jittered); the delay after it grows. */
  next(): number {
    const { factor, jitter, maxMs, random } = this.#o;
    const wait = this.#delay * (1 - jitter + random() * 2 * jitter);
    this.#delay = Math.min(maxMs, this.#delay * factor);
    this.#failures++;
    return wait;
  }

  /** Makes the next delay the longest (a reason to stay away, e.g. a replaced session). */
  max(): void {
    this.#delay = this.#o.maxMs;
  }

  /** Back to the first delay (after a success). */
  reset(): void {
    this.#delay = this.#o.initialMs;
    this.#failures = 0;
  }

  /** Sleeps the next wait; resolves early (without throwing) when `signal` aborts. */
  wait(signal?: AbortSignal): Promise<void> {
    const ms = this.next();
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener("abort", done);
    });
  }
}
