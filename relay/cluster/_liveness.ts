/**
 * A cluster node's liveness work (router.ts): heartbeats, the check of its own subscription,
 * and the refresh of its sessions' presence keys. Every Redis error is caught and logged (at
 * most once a second per kind); nothing here can end the process.
 *
 * @module
 */
import type { SessionHandle } from "../hub.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { HEARTBEAT, REFRESH } from "./_scripts.ts";
import { bounded, type RedisPair } from "./redis.ts";

/** How often a node says it is alive, and checks who else is. */
export const HEARTBEAT_MS = 1000;
/**
 * A node without a heartbeat for this long is dead: its presence entries are ignored and its ids
 * reported offline to watchers. Three missed heartbeats, so one slow round trip is no death.
 */
export const NODE_TTL_MS = 3000;
/** An inbox ping that has not come back for this long: the subscription is renewed. */
export const PING_DEAD_MS = 3000;
/** A presence key lives this long unless refreshed. */
export const PRESENCE_TTL_MS = 15_000;
/** How often a node refreshes its sessions' presence keys (a third of their TTL). */
export const PRESENCE_REFRESH_MS = 5000;

/** What liveness needs of its router. */
export interface LivenessHooks {
  subscribe(): Promise<void>;
  nodeDied(node: string): void;
  resync(): Promise<void>;
  /** This node's sessions with their presence values. */
  sessions(): (readonly [SessionHandle, string])[];
  /** Redis answers again: the presence claims that failed are tried again. */
  reclaim(): void;
  /**
   * A presence key of ours was gone (it expired while Redis was away, or Redis lost it) and is
   * ours again: the others are told the id is online (their lookups meanwhile found nothing).
   */
  restored(s: SessionHandle, value: string): void;
  log: Logger;
  metrics: Metrics;
}

interface Owner {
  readonly node: string;
  readonly redis: RedisPair;
}

/** Heartbeats, pings and presence refreshes of one node. */
export class Liveness {
  /** Nodes with a recent heartbeat (this one included once the first heartbeat is back). */
  alive = new Set<string>();
  /** The last heartbeat's round trip. */
  rttMs = 0;
  readonly #o: Owner;
  readonly #h: LivenessHooks;
  readonly #nonce = crypto.randomUUID().replaceAll("-", "");
  #lastPing = Date.now();
  #timers: ReturnType<typeof setInterval>[] = [];
  #lastError = new Map<string, number>();
  #renewing = false;
  #stopped = false;
  #started = false;
  /** Since when heartbeats succeed without a failure (null: the last one failed). */
  #healthySince: number | null = null;

  /** Liveness of `o`, the node. */
  constructor(o: Owner, hooks: LivenessHooks) {
    this.#o = o;
    this.#h = hooks;
  }

  /** The first heartbeat (so that the alive set is known), then the timers. */
  async start(): Promise<void> {
    await this.#heartbeat();
    this.#started = true;
    this.#lastPing = Date.now();
    this.#timers.push(setInterval(() => void this.#tick(), HEARTBEAT_MS));
    this.#timers.push(setInterval(() => void this.#refresh(), PRESENCE_REFRESH_MS));
    let first = true;
    // After a reconnection events may have been missed: what other nodes have is asked again.
    this.#o.redis.cmd.on("ready", () => {
      if (first) return void (first = false);
      // A heartbeat at once (the node is alive again for the others, and up in its gauge), our
      // presence keys (they may have expired during the outage: a key lives PRESENCE_TTL_MS),
      // then what other nodes have is asked again.
      void this.#tick();
      void this.#refresh();
      void this.#h.resync().catch((e) => this.redisError("resync", e));
    });
  }

  /** Stops the timers. */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
  }

  /** False since a heartbeat failed, until one goes through (a Redis down, or stopped). */
  get healthy(): boolean {
    return this.#healthySince !== null;
  }

  /** Time since the inbox ping last came back. */
  pingAge(): number {
    return Date.now() - this.#lastPing;
  }

  /** The inbox delivered a ping. */
  pinged(nonce: string): void {
    if (nonce === this.#nonce) this.#lastPing = Date.now();
  }

  /** Logs a Redis failure (rate-limited per kind). */
  redisError(what: string, e: unknown): void {
    this.#h.metrics.inc("cluster_redis_errors_total");
    const now = Date.now();
    if (now - (this.#lastError.get(what) ?? 0) < 1000) return;
    this.#lastError.set(what, now);
    this.#h.log.warn("cluster_error", { during: what, error: String((e as Error)?.message ?? e) });
  }

  async #heartbeat(): Promise<void> {
    const t = performance.now();
    const nodes = await bounded(
      this.#o.redis.cmd.eval(HEARTBEAT, {
        keys: ["schied:nodes"],
        arguments: [this.#o.node, String(NODE_TTL_MS)],
      }) as Promise<string[]>,
      NODE_TTL_MS,
      "heartbeat",
    );
    this.rttMs = Math.round((performance.now() - t) * 100) / 100;
    const now = new Set(nodes.map(String));
    // Right after Redis came back its heartbeats may be older than they are (AOF fsyncs once a
    // second, and nobody could write during the outage): deaths count only once this node's
    // own heartbeats have gone through for a whole NODE_TTL_MS.
    const at = Date.now();
    this.#healthySince ??= at;
    if (at - this.#healthySince < NODE_TTL_MS) { for (const n of this.alive) now.add(n); }
    for (const n of this.alive) if (!now.has(n)) this.#h.nodeDied(n);
    // A node back (after a stop, or a Redis restart that lost recent heartbeats): its ids were
    // reported offline here; what its watchers should know is asked again.
    const back = this.#started && [...now].some((n) => n !== this.#o.node && !this.alive.has(n));
    this.alive = now;
    if (back) await this.#h.resync();
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.#heartbeat();
      this.#h.reclaim();
      const n = Number(
        await bounded(
          this.#o.redis.cmd.publish(`schied:inbox:${this.#o.node}`, `\x03${this.#nonce}`),
          HEARTBEAT_MS,
          "ping",
        ),
      );
      if (n === 0 || this.pingAge() > PING_DEAD_MS) await this.#renew();
    } catch (e) {
      this.#healthySince = null;
      this.redisError("heartbeat", e);
    }
  }

  /** The subscription is silent: subscribe again (a fresh connection if that fails). */
  async #renew(): Promise<void> {
    if (this.#renewing || this.#stopped) return;
    this.#renewing = true;
    this.#h.metrics.inc("cluster_resubscribes_total");
    this.#h.log.warn("cluster_resubscribe", { ping_age_ms: this.pingAge() });
    try {
      await bounded(this.#h.subscribe(), 2000, "resubscribe").catch(async (e) => {
        this.redisError("resubscribe", e);
        const sub = this.#o.redis.sub;
        await sub.disconnect().catch(() => {});
        await bounded(sub.connect(), 2000, "reconnect");
        await this.#h.subscribe();
      });
      this.#lastPing = Date.now();
      await this.#h.resync();
    } finally {
      this.#renewing = false;
    }
  }

  /** Keeps our presence keys; a session whose key another took over was replaced. */
  async #refresh(): Promise<void> {
    if (this.#stopped) return;
    await Promise.all(
      this.#h.sessions().map(async ([s, value]) => {
        try {
          const r = await bounded(
            this.#o.redis.cmd.eval(REFRESH, {
              keys: [`schied:presence:${s.key}`],
              arguments: [value, String(PRESENCE_TTL_MS)],
            }),
            PRESENCE_REFRESH_MS,
            "refresh",
          );
          if (r === 0) {
            this.#h.metrics.inc("sessions_replaced_total");
            s.terminate("replaced", "Another session logged in with this id");
          }
          if (r === 2) this.#h.restored(s, value);
        } catch (e) {
          this.redisError("refresh", e);
        }
      }),
    );
  }
}
