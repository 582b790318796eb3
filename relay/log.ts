/**
 * The relay's log: one JSON object per line on stderr, lifecycle events and counts only.
 * It never receives plaintext, ciphertext, ids or pairs of ids; IPs only with `--log-ips`.
 *
 * @module
 */

/** Fields a log line may carry: no free-form content. */
export type LogFields = Record<string, string | number | boolean | undefined>;

/** A logger; `ip` fields are dropped unless IP logging is on. */
export interface Logger {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
}

/** Makes the relay's logger. `quiet` drops info lines (tests, benchmarks). */
export function makeLogger(opts: { logIps: boolean; quiet?: boolean }): Logger {
  const line = (level: string, event: string, fields: LogFields = {}) => {
    const f = { ...fields };
    if (!opts.logIps) delete f.ip;
    const rec = { t: new Date().toISOString(), level, event, ...f };
    console.error(JSON.stringify(rec));
  };
  return {
    info: (e, f) => opts.quiet || line("info", e, f),
    warn: (e, f) => line("warn", e, f),
  };
}

/** How often counted refusals are logged, in ms: one line per kind per interval. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * Counts refusals (rate limits, caps, timeouts, malformed requests) and logs each kind at most
 * once per interval with its count, so a flood of refused handshakes writes a handful of lines,
 * not one per handshake. The first refusal of a kind after a quiet interval is logged at once.
 *
 * @example
 * ```ts
 * const r = new RefusalLog(log);
 * r.count("handshake_rate_limited"); // logged now, later ones summed
 * r.stop();
 * ```
 */
export class RefusalLog {
  readonly #counts = new Map<string, number>();
  readonly #timer: ReturnType<typeof setInterval>;

  /** Starts the interval timer; `stop()` flushes and ends it. */
  constructor(readonly log: Logger, readonly intervalMs = REFUSAL_LOG_INTERVAL_MS) {
    this.#timer = setInterval(() => this.flush(), intervalMs);
    Deno.unrefTimer(this.#timer);
  }

  /** Counts one refusal of `kind`. */
  count(kind: string): void {
    const n = this.#counts.get(kind);
    if (n === undefined) {
      // Quiet until now: say so at once, then sum the rest of this interval.
      this.#counts.set(kind, 0);
      this.log.warn("refused", { kind, count: 1 });
      return;
    }
    this.#counts.set(kind, n + 1);
  }

  /** Logs the counts of this interval (kinds with none are forgotten). */
  flush(): void {
    for (const [kind, n] of this.#counts) {
      if (n === 0) this.#counts.delete(kind);
      else {
        this.log.warn("refused", { kind, count: n, interval_s: this.intervalMs / 1000 });
        this.#counts.set(kind, 0);
      }
    }
  }

  /** Flushes and stops the timer. */
  stop(): void {
    clearInterval(this.#timer);
    this.flush();
  }
}
