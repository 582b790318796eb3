/**
 * What every relay link shares (the {@linkcode RelayContext}), and the link's constants.
 *
 * @module
 */
import { type DhKeyPair } from "../protocol/_crypto.ts";
import { ERROR_CODES, type ErrorCode } from "../protocol/errors.ts";
import type { AckClock } from "./acks.ts";
import type { SlotPool } from "./admission.ts";
import type { RelayLimits } from "./limits.ts";
import type { RelayLink } from "./link.ts";
import type { Logger, RefusalLog } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import type { QueueBudget } from "./queue_budget.ts";
import type { RegistryStore, Router } from "./router.ts";

/** What every link shares. */
export interface RelayContext {
  /** Where sessions are and frames go (one relay's Hub, or a cluster's). */
  hub: Router;
  /** client_id → identity key (SQLite, or a cluster's Redis). */
  registry: RegistryStore;
  metrics: Metrics;
  /** More gauges for /metrics (a cluster node's), if any. */
  gauges?: () => Record<string, [string, number]>;
  log: Logger;
  refusals: RefusalLog;
  limits: RelayLimits;
  staticKey: DhKeyPair;
  /** False: only ids already in the registry may log in. */
  openRegistration: boolean;
  /** The clock (injected for tests). */
  now(): number;
  /** Handshake slots. */
  pending: SlotPool<RelayLink>;
  /** Session slots. */
  sessions: SlotPool<RelayLink>;
  /** TCP connections open on the public listener. */
  connections(): number;
  /** The clock of version 2's ACKs. */
  acks: AckClock;
  /** Bytes queued towards all sessions (maxTotalQueueBytes). */
  queueBudget: QueueBudget;
  /** Test hook: sees every WebSocket message the relay receives. */
  tap?: (bytes: Uint8Array) => void;
}

/**
 * Bytes of relay frames (RESULT, PRESENCE, ERROR) a session may have queued beyond maxQueueBytes:
 * answers to its own frames are never refused, so a session that sends without reading is
 * closed as `slow_reader` only past this headroom (1 MiB ≈ 87,000 RESULTs).
 */
export const CONTROL_HEADROOM = 1024 * 1024;

/**
 * Bytes of a session's received records that may wait to be opened (large records go to
 * WebCrypto asynchronously); past this the relay stops reading the socket until they are
 * opened, so a fast sender is held back by TCP instead of filling the relay's memory.
 */
export const RECEIVE_BACKLOG = 4 * 262_160;

/** The WebSocket close code for an error code. */
export function closeCode(code: ErrorCode): number {
  return 4000 + ERROR_CODES[code];
}
