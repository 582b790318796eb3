/**
 * How messages and statuses look in a terminal: time, name, escaped text; colors only on a TTY
 * and never with NO_COLOR.
 *
 * @module
 */
import type { EventData } from "../api/client.ts";
import { escapeText } from "./_output.ts";

/** True when colors may be used on stdout. */
export function useColor(env: (k: string) => string | undefined): boolean {
  return Deno.stdout.isTerminal() && env("NO_COLOR") === undefined;
}

/** Wraps `s` in an SGR color when `on`. */
export function paint(on: boolean, code: number, s: string): string {
  return on ? `\x1b[${code}m${s}\x1b[0m` : s;
}

/** HH:MM:SS of a timestamp, local time. */
export function clock(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(
    ":",
  );
}

/** A short label for a peer: its name, else the first block of its id. */
export function peerLabel(id: string, name: unknown): string {
  return typeof name === "string" && name ? escapeText(name) : id.slice(0, 8);
}

/**
 * The time of a message: `12:00:01` today, `2026-11-30 12:00:01` on another day (local time), so
 * that what scrolled in yesterday does not read as today.
 */
export function stamp(ms: number, now: number = Date.now()): string {
  const d = new Date(ms), t = new Date(now);
  const today = d.getFullYear() === t.getFullYear() && d.getMonth() === t.getMonth() &&
    d.getDate() === t.getDate();
  if (today) return clock(ms);
  const day = [d.getFullYear(), d.getMonth() + 1, d.getDate()]
    .map((n, i) => String(n).padStart(i === 0 ? 4 : 2, "0")).join("-");
  return `${day} ${clock(ms)}`;
}

/**
 * One incoming message as a line: `12:00:01 alice: hi` (with the date if not today); a group's
 * `12:00:01 [team] alice: hi` (the group's name, else its id's first 8 characters).
 */
export function messageLine(d: EventData<"message">, color: boolean): string {
  const who = peerLabel(d.from, d.from_name);
  const group = d.group === undefined
    ? ""
    : `${paint(color, 35, `[${escapeText(d.group_name ?? d.group.slice(0, 8))}]`)} `;
  return `${paint(color, 2, stamp(d.ts))} ${group}${paint(color, 36, who)}: ${escapeText(d.text)}`;
}
