/**
 * Trying again when the daemon is busy: `send` takes a `busy` answer (503: the outbox to an
 * online peer is at its bound, too many sends are in progress, or the outbox is full) as "not
 * now", waits what its Retry-After says and tries again, for up to BUSY_PATIENCE_MS. So a pipe
 * into `schied send` slows down to what the daemon takes instead of stopping mid-stream. A busy
 * answer means nothing was stored, so trying again never sends a message twice.
 *
 * @module
 */
import { ApiError } from "../api/client.ts";

/**
 * How long `send` keeps trying a busy daemon before it gives up with the error. Why 60 s: a
 * daemon that is only slow (a burst, a peer that takes its time) has room again within seconds;
 * one still refusing after a minute has something to say (its error message names the cause).
 */
export const BUSY_PATIENCE_MS = 60_000;
/** The wait when a busy answer has no usable Retry-After, and the longest wait taken from one. */
const DEFAULT_RETRY_S = 1, MAX_RETRY_S = 10;

/** Clock and sleep of `patiently` (tests pass their own). */
export interface PatienceOptions {
  patienceMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Runs `fn`; while it fails with `busy`, waits Retry-After and runs it again (see above). */
export async function patiently<T>(fn: () => Promise<T>, o: PatienceOptions = {}): Promise<T> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const end = now() + (o.patienceMs ?? BUSY_PATIENCE_MS);
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof ApiError) || e.code !== "busy") throw e;
      const waitMs = Math.min(e.retryAfterS ?? DEFAULT_RETRY_S, MAX_RETRY_S) * 1000;
      if (now() + waitMs > end) throw e;
      await sleep(waitMs);
    }
  }
}
