/**
 * The cluster's Redis connections (npm `redis`, node-redis): one for commands, one subscribed
 * to this node's inbox and to presence changes. Why two: a connection in subscriber mode can run
 * no other command.
 *
 * Resilience: every connection has an error handler (an unhandled `error` event, or a rejected
 * command nobody awaits, would end the process — what killed nodes of a prototype of this design
 * when Redis restarted); a lost connection is retried with jittered backoff, capped at
 * RECONNECT_MAX_MS, forever; node-redis subscribes again after a reconnect, and liveness.ts
 * checks that it did (a node pings its own inbox). Commands issued while the command connection
 * is down fail at once (`disableOfflineQueue`): node-redis would otherwise keep every one, with
 * its envelope, until Redis came back — gigabytes for a busy node during an outage. Commands
 * written to a Redis that stopped answering are bounded by the caller (see `bounded`, and the
 * router's budget of envelope bytes in flight).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createClient } from "redis";
import type { Logger } from "../log.ts";

export { parseRedisUrl } from "./url.ts";
import { redactRedisUrl } from "./url.ts";

/** Longest wait between reconnection attempts: a restarted Redis is found within ~0.5 s. */
export const RECONNECT_MAX_MS = 500;
/** A TCP connect to Redis that takes longer is abandoned and retried. */
export const CONNECT_TIMEOUT_MS = 2000;

type Client = ReturnType<typeof client>;
/** A reply of `sendCommand`. */
export type Reply = string | number | null | Buffer | Reply[];

/** The two connections of a node. */
export interface RedisPair {
  /** For commands. */
  cmd: Client;
  /** Subscribed to the node's channels. */
  sub: Client;
  /** True while the command connection is up. */
  readonly ready: boolean;
  /**
   * True at once when the command connection is up; else once it is (a reconnection), or false
   * after `ms`. For callers that would rather wait out a Redis restart than fail at once.
   */
  waitReady(ms: number): Promise<boolean>;
  /** Closes both. */
  close(): Promise<void>;
}

function client(url: string, log: Logger, role: "commands" | "subscriber") {
  const c = createClient({
    url,
    // The subscriber keeps its queue: node-redis subscribes again by itself after a reconnect.
    disableOfflineQueue: role === "commands",
    socket: {
      connectTimeout: CONNECT_TIMEOUT_MS,
      // Jitter spreads the nodes' reconnections after a Redis restart.
      reconnectStrategy: (retries: number) =>
        Math.round(Math.min(50 * 2 ** retries, RECONNECT_MAX_MS) * (0.5 + Math.random() / 2)),
    },
  });
  let last = 0;
  c.on("error", (e: Error) => {
    // Logged at most once a second per connection: a Redis outage makes one per retry.
    const now = Date.now();
    if (now - last < 1000) return;
    last = now;
    log.warn("cluster_redis_error", { connection: role, error: e.message });
  });
  return c;
}

/** Connects both; rejects if Redis cannot be reached within CONNECT_TIMEOUT_MS at start. */
export async function openRedis(url: string, log: Logger): Promise<RedisPair> {
  const cmd = client(url, log, "commands");
  const sub = client(url, log, "subscriber");
  // The last connection error, to say why Redis did not answer (refused, unknown host, …).
  let why = "";
  const note = (e: Error) => void (why = e.message);
  cmd.on("error", note);
  const start = Promise.all([cmd.connect(), sub.connect()]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      start,
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `Redis at ${redactRedisUrl(url)} did not answer within ${CONNECT_TIMEOUT_MS} ms` +
                  (why ? ` (${why})` : ""),
              ),
            ),
          CONNECT_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (e) {
    start.catch(() => {});
    await Promise.allSettled([cmd.destroy(), sub.destroy()]);
    throw e;
  } finally {
    clearTimeout(timer);
    cmd.off("error", note);
  }
  // One promise per outage that every waiter shares (a listener each would be thousands).
  let back: { promise: Promise<void>; resolve: () => void } | undefined;
  cmd.on("ready", () => {
    back?.resolve();
    back = undefined;
  });
  return {
    cmd,
    sub,
    get ready() {
      return cmd.isReady;
    },
    waitReady(ms: number): Promise<boolean> {
      if (cmd.isReady) return Promise.resolve(true);
      if (!back) {
        let resolve!: () => void;
        const promise = new Promise<void>((r) => (resolve = r));
        back = { promise, resolve };
      }
      const up = back.promise.then(() => true);
      return bounded(up, Math.max(0, ms), "reconnect").catch(() => false);
    },
    async close() {
      await Promise.allSettled([cmd.quit(), sub.quit()]);
    },
  };
}

/** A Buffer view of bytes, as node-redis takes binary arguments. */
export function buf(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** `p`, or a rejection after `ms` (the command may still run later; callers tolerate that). */
export function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer from Redis in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
