/**
 * `--since` values: a journal event id (`1234`, `0` for the oldest kept) or a duration back from
 * now (`90s`, `10m`, `2h`, `1d`, `1w`, or combined like `1h30m`).
 *
 * @module
 */
import { usage } from "./_output.ts";

/** Where to start: after an event id, or from a time (ms since epoch). */
export type Since = { eventId: number } | { ts: number };

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Longest duration taken: ten years (a longer one is a typo). */
const MAX_DURATION_MS = 10 * 365 * 86_400_000;

/**
 * Parses a `--since` value; a usage error says what is allowed.
 *
 * @example
 * ```ts
 * parseSince("10m", () => 600_000); // { ts: 0 }
 * parseSince("42"); // { eventId: 42 }
 * ```
 */
export function parseSince(text: string, now: () => number = Date.now): Since {
  if (/^\d{1,16}$/.test(text) && Number.isSafeInteger(Number(text))) {
    return { eventId: Number(text) };
  }
  if (/^(\d{1,9}[smhdw])+$/.test(text)) {
    let ms = 0;
    for (const m of text.matchAll(/(\d+)([smhdw])/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
    if (ms <= MAX_DURATION_MS) return { ts: now() - ms };
  }
  throw usage(
    `--since must be an event id or a duration such as 90s, 10m, 2h, 1d, 1w or 1h30m, ` +
      `got "${text.slice(0, 40)}"`,
  );
}
