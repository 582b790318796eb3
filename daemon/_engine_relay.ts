/**
 * The engine's relay connection, wired: incoming envelopes and presence go to delivery, state
 * changes to the journal and to /status's last error, and the watch list is contacts and peers
 * with mail. Used only by engine.ts.
 *
 * @module
 */
import { formatId, parseId } from "../protocol/identity.ts";
import { AUTH_HINT } from "./lifecycle_log.ts";
import { parseRelayList, RelayClient } from "./relay_client.ts";
import type { EngineParts } from "./_engine_parts.ts";
import type { DaemonStatus } from "./service.ts";

/** The relay's last error as /status shows it (null once online). */
export type LastRelayError = DaemonStatus["relay"]["last_error"];

/**
 * The relay setting in its one stored form: the addresses of a list (relay_client.ts
 * parseRelayList), trimmed, each once, comma-separated. Throws a TypeError that says what is
 * wrong.
 */
export function relaySetting(list: string): string {
  return parseRelayList(list).map((e) => e.text).join(",");
}

/**
 * The one relay address to use now (the registry's key lookups): the relay connected to or being
 * tried, else (not started) the first of the list.
 */
export function currentRelay(
  list: string | undefined,
  rc: RelayClient | undefined,
): string | undefined {
  if (list === undefined) return undefined;
  return rc?.current.text ?? list.split(",")[0]!;
}

/**
 * The relay part of /status: `address` is the relay connected to (or being tried, or tried
 * last), `relays` every configured one in order of preference.
 */
export function relayStatus(
  list: string | undefined,
  rc: RelayClient | undefined,
  lastError: LastRelayError,
  started: number,
): DaemonStatus["relay"] {
  return {
    address: currentRelay(list, rc) ?? null,
    relays: list === undefined ? [] : list.split(","),
    state: rc?.state ?? "offline",
    last_error: list === undefined
      ? { code: null, reason: "no relay configured", at: started }
      : lastError,
  };
}

/** A relay client for `address` (one or a list), wired to the engine's parts (not started). */
export function connectRelay(
  p: EngineParts,
  address: string,
  initialBackoffMs: number | undefined,
  setLastError: (e: LastRelayError) => void,
): RelayClient {
  return new RelayClient({
    address,
    identity: () => p.self.identity,
    onDeliver: (from, env) => p.delivery.onDeliver(from, env),
    onPresence: (id, online) => {
      if (p.delivery.onPresence(id, online)) {
        p.backlog.wake(formatId(id));
        void p.store.write(() => p.journal.append("presence", { id: formatId(id), online }));
      }
    },
    onState: (state, detail) => {
      void p.store.write(() =>
        p.journal.append("relay", {
          state,
          ...(detail ? { reason: detail.reason, code: detail.code } : {}),
          ...(detail?.retryInMs === undefined ? {} : { retry_in_ms: detail.retryInMs }),
        })
      );
      if (state === "online") setLastError(null);
      else if (detail) {
        setLastError({
          code: detail.code,
          reason: detail.reason,
          at: p.now(),
          ...(detail.code === "auth_failed" ? { hint: AUTH_HINT } : {}),
        });
      }
      p.backlog.wake();
      if (state === "online") {
        p.delivery.onRelayOnline();
        p.recipients.onRelayOnline();
      }
    },
    watchList: () => watchList(p),
    ...(initialBackoffMs === undefined ? {} : { initialBackoffMs }),
  });
}

/** Whom to watch: contacts only (never requests or strangers), and peers with mail. */
function watchList(p: EngineParts): Uint8Array[] {
  const ids = new Set([
    ...p.contacts.list().map((c) => c.id),
    ...p.outbox.peers(),
  ]);
  return [...ids].map(parseId);
}
