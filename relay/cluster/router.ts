/**
 * A cluster node's Router: this node's sessions in a Hub, everything else through Redis
 * (README "Running several relays"; protocol/README.md section 9.5).
 *
 * - **Presence**: `schied:presence:<id>` = "node session", with a TTL, claimed at login with
 *   `SET … GET` (the previous owner is told to close its session as `replaced`), refreshed only
 *   while still ours, released by compare-and-delete (_scripts.ts). Changes are published on
 *   `schied:presence`; every node keeps a map of ids online elsewhere from them (and from lookups).
 * - **Routing**: a frame for an id online here goes to its session at once; otherwise to the
 *   owner node's inbox channel `schied:inbox:<node>` (PUBLISH's receiver count 0: offline if
 *   that node is dead, retried if it is alive and renewing its subscription).
 * - **Liveness** (_liveness.ts): heartbeats with expiry; a node that stops answering is dead
 *   within NODE_TTL_MS and its presence is ignored; each node pings its own inbox and
 *   subscribes again when the ping does not come back.
 *
 * @module
 */
import { Hub, idKey, type SessionHandle } from "../hub.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { Router, RouteResult } from "../router.ts";
import { type InboxMessage, ownerValue, parseInbox, parsePresence } from "./_codec.ts";
import { Liveness, NODE_TTL_MS } from "./_liveness.ts";
import { LAST_HEARTBEAT } from "./_scripts.ts";
import {
  claimPresence,
  inboxChannel,
  PRESENCE_CHANNEL,
  publishPresence,
  releasePresence,
  sendInbox,
} from "./_presence.ts";
import { RemoteIds } from "./_remote.ts";
import { bounded, openRedis, type RedisPair } from "./redis.ts";

/** A cross-node route without an answer from Redis within this is refused `recipient_busy`. */
export const ROUTE_TIMEOUT_MS = 1500;

/** A live node whose inbox has no subscriber is tried again after this (within ROUTE_TIMEOUT_MS). */
export const RESUBSCRIBE_RETRY_MS = 150;

/**
 * Envelope bytes handed to Redis and not yet answered, at most, per node. Why 16 MiB: a PUBLISH
 * is answered within a millisecond or so, so a node forwarding 20,000 envelopes of ~1 KiB a
 * second has some 20 KiB in flight; but a Redis that stops answering with its socket still open
 * (SIGSTOP, a stalled disk under `appendfsync always`) would let every cross-node SEND add its
 * envelope to node-redis's queue, gigabytes within seconds. Past it a cross-node SEND is refused
 * `recipient_busy` at once (the daemon retries), like one to a recipient whose queue is full.
 */
export const MAX_CROSS_NODE_BYTES = 16 * 1024 * 1024;

/** How to join a cluster. */
export interface ClusterOptions {
  /** `redis://host:port`. */
  url: string;
  /** This node's name (default: random). */
  node?: string;
  log: Logger;
  metrics: Metrics;
}

const token = () =>
  Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0"))
    .join("");

/** The Router of a cluster node. */
export class ClusterRouter implements Router {
  /** This node's name. */
  readonly node: string;
  /** The Redis connections (the registry shares the command one). */
  readonly redis: RedisPair;
  readonly #hub: Hub;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #tokens = new WeakMap<SessionHandle, string>();
  /** Sessions whose presence key is claimed (only those are refreshed). */
  readonly #claimed = new WeakSet<SessionHandle>();
  /**
   * Sessions whose claim failed (a login while Redis was away, served from the registry's
   * cache): claimed again after each heartbeat that goes through, until it works. Without it
   * such a session would stay invisible to the other nodes for as long as it lasts.
   */
  readonly #unclaimed = new Set<SessionHandle>();
  /** Envelope bytes published and not yet answered (MAX_CROSS_NODE_BYTES). */
  #inflight = 0;
  readonly #remote: RemoteIds;
  readonly #live: Liveness;

  private constructor(redis: RedisPair, o: ClusterOptions) {
    this.node = o.node ?? token();
    this.redis = redis;
    this.#log = o.log;
    this.#metrics = o.metrics;
    this.#remote = new RemoteIds(redis, this.node, () => this.#live.alive);
    this.#hub = new Hub({
      onlineElsewhere: (key) => this.#remote.elsewhere(key) !== undefined,
      watched: (id, key) => this.#remote.lookup(id, key).then(() => {}, () => {}),
    });
    this.#live = new Liveness(this, {
      subscribe: () => this.#subscribe(),
      nodeDied: (node) => this.#nodeDied(node),
      resync: () => this.#resync(),
      // A session still claiming its key is not refreshed: the key may hold its predecessor's.
      sessions: () =>
        this.#hub.all().filter((s) => this.#claimed.has(s)).map((s) =>
          [s, this.#value(s)] as const
        ),
      reclaim: () => this.#reclaim(),
      restored: (s, value) =>
        void publishPresence(this.redis, true, s.id, this.node, value.split(" ")[1]!)
          .catch((e) => this.#live.redisError("restore", e)),
      log: o.log,
      metrics: o.metrics,
    });
  }

  /** Connects to Redis, subscribes, announces this node; rejects if Redis is unreachable. */
  static async start(o: ClusterOptions): Promise<ClusterRouter> {
    const redis = await openRedis(o.url, o.log);
    const r = new ClusterRouter(redis, o);
    try {
      await r.#warnIfNameInUse();
      await r.#subscribe();
      await r.#live.start();
    } catch (e) {
      await r.close();
      throw e;
    }
    return r;
  }

  /**
   * Two live nodes with one name would share an inbox and each drop the other's frames: a name
   * with a heartbeat younger than NODE_TTL_MS is reported (not refused: a node restarted at once
   * after a crash sees its own last heartbeat).
   */
  async #warnIfNameInUse(): Promise<void> {
    const ago = Number(
      await bounded(
        this.redis.cmd.eval(LAST_HEARTBEAT, { keys: ["schied:nodes"], arguments: [this.node] }),
        ROUTE_TIMEOUT_MS,
        "node name",
      ),
    );
    if (ago >= 0 && ago < NODE_TTL_MS) {
      this.#log.warn("cluster_node_name_in_use", {
        node: this.node,
        last_heartbeat_ms_ago: ago,
        hint: "each node needs its own --node-name; another live node may use this one",
      });
    }
  }

  async #subscribe(): Promise<void> {
    const sub = this.redis.sub;
    await sub.unsubscribe().catch(() => {});
    await sub.subscribe(inboxChannel(this.node), (m: Uint8Array) => this.#onInbox(m), true);
    await sub.subscribe(PRESENCE_CHANNEL, (m: string) => this.#onPresence(m));
  }

  get size(): number {
    return this.#hub.size;
  }

  get watchCount(): number {
    return this.#hub.watchCount;
  }

  /** Nodes alive now (this one included), for metrics and tests. */
  get aliveNodes(): number {
    return this.#live.alive.size;
  }

  /** Gauges for /metrics. */
  gauges(): Record<string, [string, number]> {
    return {
      // Up: connected, and the last heartbeat went through (a stopped Redis keeps the socket).
      cluster_up: [
        "1 while this node's Redis answers (connected, the last heartbeat through)",
        this.redis.ready && this.#live.healthy ? 1 : 0,
      ],
      cluster_nodes_alive: ["Relay nodes with a recent heartbeat", this.#live.alive.size],
      cluster_redis_rtt_ms: ["Round trip of the last heartbeat to Redis", this.#live.rttMs],
      cluster_inbox_ping_age_ms: [
        "Time since this node's inbox ping came back",
        this.#live.pingAge(),
      ],
      cluster_remote_ids: ["Ids known online on other nodes", this.#remote.size],
      cluster_inflight_bytes: [
        "Envelope bytes published to Redis, not yet answered",
        this.#inflight,
      ],
      cluster_unclaimed_sessions: [
        "Sessions whose presence claim waits for Redis",
        this.#unclaimed.size,
      ],
    };
  }

  get(key: string): SessionHandle | undefined {
    return this.#hub.get(key);
  }

  all(): SessionHandle[] {
    return this.#hub.all();
  }

  #value(s: SessionHandle): string {
    let t = this.#tokens.get(s);
    if (!t) this.#tokens.set(s, t = token());
    return ownerValue(this.node, t);
  }

  attach(s: SessionHandle): SessionHandle | undefined {
    const old = this.#hub.attach(s);
    this.#remote.forget(s.key);
    this.#claimOrRetry(s);
    return old;
  }

  #claimOrRetry(s: SessionHandle): void {
    this.#unclaimed.delete(s);
    this.#claim(s).catch((e) => {
      this.#live.redisError("claim", e);
      if (this.#hub.get(s.key) === s) this.#unclaimed.add(s);
    });
  }

  /** After a heartbeat that went through: the claims that failed are tried again. */
  #reclaim(): void {
    for (const s of [...this.#unclaimed]) {
      if (this.#hub.get(s.key) === s) this.#claimOrRetry(s);
      else this.#unclaimed.delete(s);
    }
  }

  async #claim(s: SessionHandle): Promise<void> {
    const value = this.#value(s);
    const prev = await claimPresence(this.redis, s.key, value);
    this.#claimed.add(s);
    const session = value.split(" ")[1]!;
    // Online first, then the kick: the old node's watchers never see the id go offline.
    await publishPresence(this.redis, true, s.id, this.node, session);
    if (prev && prev.node !== this.node) {
      await sendInbox(this.redis, prev.node, { t: "kick", id: s.id, session: prev.session });
    }
  }

  detach(s: SessionHandle): void {
    const current = this.#hub.get(s.key) === s;
    this.#hub.detach(s);
    this.#unclaimed.delete(s);
    if (!current) return;
    const value = this.#value(s);
    void (async () => {
      if (await releasePresence(this.redis, s.key, value)) {
        await publishPresence(this.redis, false, s.id, this.node, value.split(" ")[1]!);
      }
    })().catch((e) => this.#live.redisError("release", e));
  }

  route(
    from: SessionHandle,
    to: Uint8Array,
    envelope: Uint8Array,
  ): RouteResult | Promise<RouteResult> {
    const key = idKey(to);
    if (this.#hub.get(key)) return this.#hub.route(from, to, envelope);
    return this.#routeRemote(from, to, key, envelope);
  }

  async #routeRemote(
    from: SessionHandle,
    to: Uint8Array,
    key: string,
    envelope: Uint8Array,
  ): Promise<RouteResult> {
    const bytes = envelope.length;
    if (this.#inflight + bytes > MAX_CROSS_NODE_BYTES) return this.#refused();
    // The envelope's bytes count from here: while the route waits for Redis, and then until
    // Redis answered its PUBLISH (a command written to a Redis that stopped answering keeps its
    // envelope in node-redis however the route ended).
    this.#inflight += bytes;
    let reserved = true;
    const publish = (node: string, msg: InboxMessage) => {
      if (!reserved) this.#inflight += bytes;
      reserved = false;
      const p = sendInbox(this.redis, node, msg);
      p.finally(() => this.#inflight -= bytes).catch(() => {});
      return p;
    };
    try {
      const end = Date.now() + ROUTE_TIMEOUT_MS;
      // Redis reconnecting (it restarted): wait for it within the route's time rather than fail
      // at once, which the daemon would retry only after RETRY_MS.
      if (!this.redis.ready && !await this.redis.waitReady(ROUTE_TIMEOUT_MS)) return "busy";
      const owner = this.#remote.elsewhere(key) ?? await this.#remote.lookup(to, key);
      if (!owner) return "offline";
      const msg = { t: "deliver", to, from: from.id, envelope } as const;
      for (;;) {
        const left = Math.max(1, end - Date.now());
        const n = await bounded(publish(owner.node, msg), left, "route");
        if (n > 0) break;
        // Nobody reads that inbox. A node that stopped heartbeating is gone (its presence will
        // expire): offline. A live one is renewing its subscription (right after Redis came
        // back): tried again shortly, then refused as busy (the daemon retries), never
        // "offline", which would make the sender wait for a presence change that is not coming.
        if (!this.#live.alive.has(owner.node)) {
          this.#remote.forget(key, owner);
          return "offline";
        }
        if (Date.now() + RESUBSCRIBE_RETRY_MS > end) return "busy";
        await new Promise((r) => setTimeout(r, RESUBSCRIBE_RETRY_MS));
        if (this.#inflight + bytes > MAX_CROSS_NODE_BYTES) return this.#refused();
      }
      this.#metrics.inc("cluster_frames_sent_total");
      return "delivered";
    } finally {
      if (reserved) this.#inflight -= bytes;
    }
  }

  #refused(): "busy" {
    this.#metrics.inc("cluster_frames_refused_total");
    return "busy";
  }

  watch(s: SessionHandle, ids: Uint8Array[], max: number): boolean {
    return this.#hub.watch(s, ids, max);
  }

  unwatch(s: SessionHandle, ids: Uint8Array[]): void {
    this.#hub.unwatch(s, ids);
  }

  #onInbox(raw: Uint8Array): void {
    const m = parseInbox(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength));
    if (!m) return;
    if (m.t === "ping") return this.#live.pinged(m.nonce);
    if (m.t === "kick") {
      const s = this.#hub.get(idKey(m.id));
      if (s && this.#value(s).endsWith(` ${m.session}`)) {
        this.#metrics.inc("sessions_replaced_total"); // by a login on another node
        s.terminate("replaced", "Another session logged in with this id");
      }
      return;
    }
    this.#metrics.inc("cluster_frames_received_total");
    const s = this.#hub.get(idKey(m.to));
    // Gone or full here: dropped, as a frame lost in transit (the sender's daemon resends).
    if (!s || s.deliver(m.from, m.envelope) !== "ok") {
      this.#metrics.inc("cluster_frames_dropped_total");
    }
  }

  #onPresence(line: string): void {
    const e = parsePresence(line);
    if (e && this.#remote.apply(e)) this.#hub.remoteChange(e.id, e.online);
  }

  #nodeDied(node: string): void {
    for (const id of this.#remote.nodeDied(node)) this.#hub.remoteChange(id, false);
  }

  /** After a gap in the subscription: forget what may be stale, and ask again for watched ids. */
  async #resync(): Promise<void> {
    this.#remote.clear();
    await Promise.all(
      this.#hub.watchedIds().map(async (id) => {
        const key = idKey(id);
        if (this.#hub.get(key)) return;
        const o = await this.#remote.lookup(id, key).catch(() => undefined);
        this.#hub.remoteChange(id, !!o);
      }),
    );
  }

  async close(): Promise<void> {
    this.#live.stop();
    this.#unclaimed.clear();
    await Promise.allSettled(
      this.#hub.all().map((s) =>
        bounded(releasePresence(this.redis, s.key, this.#value(s)), 500, "release")
      ),
    );
    await this.redis.close();
  }
}
