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
