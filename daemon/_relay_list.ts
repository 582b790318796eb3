/**
 * The relay list and the failover policy of relay_client.ts: parsing a list of relay addresses
 * (comma-separated, in order of preference), the timers the client waits with, how long one try
 * of one address may take, and the backoff between passes over the list.
 *
 * @module
 */
import { parseRelayAddress, type RelayAddress } from "../protocol/address.ts";

/** One address of a relay list, as given and parsed. */
export interface RelayListEntry {
  /** The address as given (trimmed): what /status shows. */
  text: string;
  /** The parsed address. */
  address: RelayAddress;
}

/**
 * Parses a relay list: one address, or several separated by commas (and the parts of repeated
 * `--relay` flags, each of which may be a list too), in order of preference. An address given
 * twice is kept once, at its first place. Throws a TypeError that says which address is wrong:
 * an empty one (`a,,b`, a trailing comma) or one that parseRelayAddress refuses.
 *
 * @example
 * ```ts
 * parseRelayList("ws://10.0.0.1:8765/#KEY1,ws://10.0.0.2:8765/#KEY2").map((e) => e.text);
 * ```
 */
export function parseRelayList(list: string | readonly string[]): RelayListEntry[] {
  const parts = [list].flat().flatMap((l) => l.split(",")).map((t) => t.trim());
  const out: RelayListEntry[] = [];
  parts.forEach((text, i) => {
    const which = parts.length === 1 ? "" : ` ${i + 1} of ${parts.length}`;
    if (text === "") {
      throw new TypeError(
        parts.length === 1
          ? "Cannot parse relay address: it is empty"
          : `Cannot parse relay address${which}: it is empty (a stray comma?)`,
      );
    }
    let address: RelayAddress;
    try {
      address = parseRelayAddress(text);
    } catch (e) {
      throw new TypeError(
        (e as Error).message.replace(
          "Cannot parse relay address",
          `Cannot parse relay address${which}`,
        ),
      );
    }
    if (!out.some((o) => o.text === text)) out.push({ text, address });
  });
  return out;
}

/** Timers the client waits with (tests pass a fake clock). */
export interface RelayTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

/** The real timers: setTimeout and clearTimeout. */
export const REAL_TIMERS: RelayTimers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** How long one try of one address may take, connecting and handshake included. */
export const CONNECT_TIMEOUT_MS = 10_000;

/** Backoff parameters. */
export const BACKOFF = { initialMs: 1000, factor: 1.5, maxMs: 60_000, jitter: 0.2 };
/**
 * Backoff after the relay refused the login (auth_failed before the link was up): a wrong relay
 * key or a wrong identity will not fix itself in a second, and each try costs the relay a
 * handshake; 30 s, doubling, at most 10 minutes.
 */
export const AUTH_BACKOFF = { initialMs: 30_000, factor: 2, maxMs: 600_000, jitter: 0.2 };
