/**
 * The daemon's lifecycle on stderr: connecting, online, offline with the reason and the next
 * try, authentication failures with a hint, and counts of messages in and out — as readable
 * lines or as JSON Lines (`--log-format json`). Read off the journal once events are durable, so
 * a line never tells of something that rolled back. Message texts and names never appear.
 *
 * @module
 */
import type { JournalEvent } from "./service.ts";

/** How lines look. */
export type LogFormat = "text" | "json";

/** One log record. */
export interface LogRecord {
  /** ISO time. */
  ts: string;
  level: "info" | "warn" | "error";
  /** What happened: starting, connecting, online, offline, auth_failed, counts, stopping. */
  event: string;
  /** The line for humans. */
  msg: string;
  /** Structured details (JSON only). */
  [k: string]: unknown;
}

/** A repeated failure with the same reason is logged again at most this often (ms). */
export const REPEAT_MS = 60_000;
/** Counts of messages are logged at most this often, and only when they changed (ms). */
export const COUNTS_MS = 60_000;

/** What an authentication failure at login most likely means. */
export const AUTH_HINT = "the relay's key does not match the address (or it is not a schied " +
  "relay): copy the address 'schied relay' printed, with its #key";

/** Formats a record as one line (text: and a `schied: hint:` line when it has a hint). */
export function formatLog(r: LogRecord, format: LogFormat): string {
  if (format === "json") return JSON.stringify(r);
  const level = r.level === "info" ? "" : `${r.level}: `;
  const line = `schied: ${r.ts.slice(0, 19).replace("T", " ")} ${level}${r.msg}`;
  return typeof r.hint === "string" ? `${line}\nschied: hint: ${r.hint}` : line;
}

/**
 * Turns journal events into log lines.
 *
 * @example
 * ```ts
 * const log = new LifecycleLog((l) => console.error(l), "text");
 * engine.subscribe((e) => log.onEvent(e));
 * ```
 */
export class LifecycleLog {
  #lastFailure = "";
  #lastFailureAt = -Infinity;
  #failures = 0;
  #online = false;
  readonly #counts = { in: 0, requests: 0, delivered: 0, failed: 0 };
  #countsLogged = "";
  #countsAt: number;

  /** Writes lines through `write`; `now` is the clock. */
  constructor(
    readonly write: (line: string) => void,
    readonly format: LogFormat = "text",
    readonly now: () => number = Date.now,
  ) {
    this.#countsAt = now();
  }

  /** Logs a record. */
  log(level: LogRecord["level"], event: string, msg: string, fields: object = {}): void {
    const r: LogRecord = { ts: new Date(this.now()).toISOString(), level, event, msg, ...fields };
    this.write(formatLog(r, this.format));
  }

  /** Takes one committed journal event. */
  onEvent(e: JournalEvent): void {
    switch (e.type) {
      case "message":
        this.#counts.in++;
        break;
      case "request":
        this.#counts.requests++;
        break;
      case "status":
        if (e.data.status === "delivered") this.#counts.delivered++;
        else if (e.data.status === "failed") {
          this.#counts.failed++;
          this.log("warn", "failed", `a message to ${e.data.to} failed: ${e.data.reason ?? ""}`, {
            peer: e.data.to,
            reason: e.data.reason ?? null,
          });
        }
        break;
      case "relay":
        this.#relay(e.data);
        break;
      case "rotation":
        // Ids only, as everywhere in the log (the event's text has the contact's name).
        this.log(
          "info",
          "contact_rotated",
          `contact ${e.data.old_id} now uses id ${e.data.new_id}, signed by its old key`,
          { peer: e.data.new_id, old_id: e.data.old_id },
        );
        break;
      case "error":
        this.log("warn", "error", `${e.data.code}: ${e.data.message}`, {
          code: e.data.code,
          peer: e.data.peer,
        });
        break;
    }
    if (this.now() - this.#countsAt >= COUNTS_MS) this.counts();
  }

  /** Logs the counts if they changed since the last time. */
  counts(): void {
    this.#countsAt = this.now();
    const c = this.#counts;
    const key = JSON.stringify(c);
    if (key === this.#countsLogged) return;
    this.#countsLogged = key;
    this.log(
      "info",
      "counts",
      `messages since start: ${c.in} in (+${c.requests} requests), ${c.delivered} out ` +
        `delivered, ${c.failed} failed`,
      { ...c },
    );
  }

  #relay(d: Extract<JournalEvent, { type: "relay" }>["data"]): void {
    if (d.state === "online") {
      this.#online = true;
      this.#failures = 0;
      this.#lastFailure = "";
      this.log("info", "online", "online: logged in to the relay");
      return;
    }
    if (d.state === "connecting") {
      if (this.#failures === 0) this.log("info", "connecting", "connecting to the relay…");
      return;
    }
    // offline
    const wasOnline = this.#online;
    this.#online = false;
    if (d.reason === undefined) return; // stopped
    this.#failures++;
    const retry = d.retry_in_ms === undefined ? "" : `; next try in ${fmtSeconds(d.retry_in_ms)}`;
    const fields = { code: d.code ?? null, reason: d.reason, retry_in_ms: d.retry_in_ms ?? null };
    const auth = d.code === "auth_failed" && !wasOnline;
    const same = d.reason === this.#lastFailure;
    if (!wasOnline && same && this.now() - this.#lastFailureAt < REPEAT_MS) return;
    this.#lastFailure = d.reason;
    this.#lastFailureAt = this.now();
    const tries = this.#failures > 1 ? ` (${this.#failures} tries)` : "";
    if (auth) {
      this.log(
        "error",
        "auth_failed",
        `authentication with the relay failed${tries}: ${d.reason}${retry}`,
        { ...fields, hint: AUTH_HINT },
      );
    } else {
      this.log("warn", "offline", `offline${tries}: ${d.reason}${retry}`, fields);
    }
  }
}

function fmtSeconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}
