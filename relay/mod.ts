/**
 * The relay: the untrusted server. It authenticates daemons, keeps the registry, forwards opaque
 * envelopes to online sessions and stores no message. It never imports daemon/ or api/.
 *
 * @example
 * ```ts
 * const relay = await startRelay({ host: "127.0.0.1", port: 0, stateDir: "/tmp/r" });
 * console.log(relay.address); // ws://127.0.0.1:PORT/#KEY
 * await relay.close();
 * ```
 * @module
 */
import { formatRelayAddress } from "../protocol/address.ts";
import { connectionBudget, serve, type Server, type ServerEvent } from "../lib/net/mod.ts";
import { QueueBudget } from "./queue_budget.ts";
import { AckClock } from "./acks.ts";
import { SlotPool } from "./admission.ts";
import { Hub } from "./hub.ts";
import { DEFAULT_LIMITS, type RelayLimits } from "./limits.ts";
import { type RelayContext, type RelayLink } from "./link.ts";
import { type Logger, makeLogger, RefusalLog } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { Registry } from "./registry.ts";
import type { RegistryStore, Router } from "./router.ts";
import type { ClusterRouter } from "./cluster/router.ts";
import { makeHandler, makeMetricsHandler } from "./server.ts";
import { ensurePrivateFile } from "../lib/private_fs.ts";
import { ensurePrivateDir, loadOrCreateRelayKey, REGISTRY_FILE } from "./state.ts";

export { DEFAULT_LIMITS, type RelayLimits } from "./limits.ts";
export { Hub, idKey, type SessionHandle } from "./hub.ts";

/** How to run a relay. */
export interface RelayOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 8765; 0 picks a free one). */
  port?: number;
  /** State dir (key and registry). */
  stateDir: string;
  /** PEM certificate and key for wss://. */
  tls?: { cert: string; key: string };
  /** Log client IPs (off by default). */
  logIps?: boolean;
  /** Suppress info log lines. */
  quiet?: boolean;
  /** False: only ids already registered may log in. */
  openRegistration?: boolean;
  /** Limits overriding the defaults. */
  limits?: Partial<RelayLimits>;
  /** Host name to print in the address instead of the listen address. */
  publicHost?: string;
  /** Test hook: sees every WebSocket message the relay receives. */
  tap?: (bytes: Uint8Array) => void;
  /** Test seam: a routing table (a subclass can play a malicious relay). */
  hub?: Hub;
  /** Injected clock. */
  now?: () => number;
  /** Where `/metrics` is served; null or absent: nowhere (the CLI's default is 127.0.0.1:8766). */
  metricsListen?: { host: string; port: number } | null;
  /** Descriptor budget for connections (tests); default from the process's limit. */
  fdBudget?: number;
  /**
   * Run as a node of a cluster on Redis (README "Running several relays"): the registry and
   * routing between nodes live in Redis at `url`; `node` names this node (default random).
   */
  cluster?: { url: string; node?: string };
}

/** Where `schied relay` serves its metrics unless told otherwise: loopback, next to 8765. */
export const DEFAULT_METRICS_LISTEN = { host: "127.0.0.1", port: 8766 } as const;

/** A running relay. */
export interface RunningRelay {
  /** The relay address daemons are configured with. */
  address: string;
  /** The port bound. */
  port: number;
  /** The metrics listener's `host:port`, if any. */
  metricsAddress: string | null;
  /** Counters (for tests). */
  metrics: Metrics;
  /** This node's name in its cluster, or null for a single relay. */
  node: string | null;
  /** Nodes this one sees alive, itself included (1 for a single relay). */
  aliveNodes(): number;
  /** Stops accepting, closes every session, closes the registry. */
  close(): Promise<void>;
}

/** Starts a relay. */
export async function startRelay(o: RelayOptions): Promise<RunningRelay> {
  await ensurePrivateDir(o.stateDir);
  const key = await loadOrCreateRelayKey(o.stateDir);
  const log: Logger = makeLogger({ logIps: o.logIps ?? false, quiet: o.quiet });
  const metricsCounters = new Metrics();
  let hub: Router, registry: RegistryStore, cluster: ClusterRouter | undefined;
  if (o.cluster) {
    // Loaded only for a cluster: a single relay never loads the Redis client.
    const [{ ClusterRouter }, { RedisRegistry }, { parseRedisUrl }] = await Promise.all([
      import("./cluster/router.ts"),
      import("./cluster/registry.ts"),
      import("./cluster/url.ts"),
    ]);
    parseRedisUrl(o.cluster.url); // a clear error before any connection
    cluster = await ClusterRouter.start({
      url: o.cluster.url,
      node: o.cluster.node,
      log,
      metrics: metricsCounters,
    });
    hub = cluster;
    registry = new RedisRegistry(cluster.redis);
  } else {
    await ensurePrivateFile(`${o.stateDir}/${REGISTRY_FILE}`);
    registry = Registry.open(`${o.stateDir}/${REGISTRY_FILE}`);
    hub = o.hub ?? new Hub();
  }
  if (key.created) log.info("relay_key_created");
  const limits: RelayLimits = { ...DEFAULT_LIMITS, ...o.limits };
  // Every connection is a descriptor: the sessions and handshakes must fit the process's limit
  // (with headroom for key lookups and the runtime), or accepting would fail under load.
  const budget = o.fdBudget ?? connectionBudget();
  const room = budget - limits.maxPendingHandshakes - Math.ceil(budget / 20);
  if (limits.maxSessions > room) {
    log.warn("fd_limit_low", {
      descriptors: budget,
      max_sessions: limits.maxSessions,
      lowered_to: Math.max(1, room),
      hint: "raise the limit (ulimit -n) to serve more sessions",
    });
    limits.maxSessions = Math.max(1, room);
  }
  const refusals = new RefusalLog(log);
  let server: Server | undefined;
  const ctx: RelayContext = {
    hub,
    registry,
    metrics: metricsCounters,
    gauges: cluster ? () => cluster.gauges() : undefined,
    log,
    refusals,
    limits,
    staticKey: key,
    openRegistration: o.openRegistration ?? true,
    now: o.now ?? Date.now,
    pending: new SlotPool<RelayLink>(limits.maxPendingHandshakes, limits.maxPendingHandshakesPerIp),
    sessions: new SlotPool<RelayLink>(limits.maxSessions, limits.maxSessionsPerIp),
    connections: () => server?.connections ?? 0,
    acks: new AckClock(),
    queueBudget: new QueueBudget(limits.maxTotalQueueBytes),
    tap: o.tap,
  };
  const onEvent = (e: ServerEvent) => {
    switch (e.kind) {
      case "accept_error":
        return refusals.count("accept_error");
      case "refused":
        ctx.metrics.inc("limit_hits_total");
        return refusals.count(`connections_${e.reason}`);
      case "evicted":
        return refusals.count("connection_evicted");
      case "timeout":
        return refusals.count(`http_${e.phase}_timeout`);
      case "bad_request":
        return refusals.count("http_bad_request");
      case "handler_error":
        log.warn("handler_error", { error: String((e.error as Error)?.message ?? e.error) });
    }
  };
  const host = o.host ?? "127.0.0.1";
  try {
    server = serve({
      hostname: host,
      port: o.port ?? 8765,
      ...(o.tls ? { tls: o.tls } : {}),
      fdBudget: budget,
      limits: {
        maxConnectionsPerSource: limits.maxConnectionsPerIp,
        headTimeoutMs: limits.headTimeoutMs,
        writeTimeoutMs: limits.slowReaderTimeoutMs,
        maxBodyBytes: 0,
      },
      handler: makeHandler(ctx),
      onEvent,
    });
  } catch (e) {
    refusals.stop();
    registry.close();
    await hub.close();
    throw e;
  }
  const metricsListen = o.metricsListen ?? null;
  let metrics: Server | undefined;
  if (metricsListen) {
    try {
      metrics = serve({
        hostname: metricsListen.host,
        port: metricsListen.port,
        limits: { maxConnections: 64, maxConnectionsPerSource: 64, maxBodyBytes: 0 },
        handler: makeMetricsHandler(ctx),
      });
    } catch (e) {
      await server.shutdown(0);
      refusals.stop();
      registry.close();
      await hub.close();
      throw new MetricsListenError(metricsListen, e as Error);
    }
  }
  const port = server.addr.port;
  const shownHost = o.publicHost ?? (host.includes(":") ? `[${host}]` : host);
  const scheme = o.tls ? "wss" : "ws";
  const address = formatRelayAddress(`${scheme}://${shownHost}:${port}/`, key.publicKey);
  const metricsAddress = metrics
    ? `${
      metricsListen!.host.includes(":") ? `[${metricsListen!.host}]` : metricsListen!.host
    }:${metrics.addr.port}`
    : null;
  log.info("relay_listening", {
    port,
    tls: !!o.tls,
    registry_ids: registry.count(),
    metrics: metricsAddress ?? "off",
    max_connections: server.limits.maxConnections,
    max_sessions: limits.maxSessions,
    ...(cluster ? { cluster_node: cluster.node, cluster_nodes_alive: cluster.aliveNodes } : {}),
  });
  let closed = false;
  return {
    address,
    port,
    metricsAddress,
    metrics: ctx.metrics,
    node: cluster?.node ?? null,
    aliveNodes: () => cluster?.aliveNodes ?? 1,
    async close() {
      if (closed) return;
      closed = true;
      for (const s of ctx.hub.all()) s.terminate("shutting_down", "Relay is shutting down");
      await Promise.all([server!.shutdown(), metrics?.shutdown(0)]);
      ctx.acks.stop();
      refusals.stop();
      registry.close();
      await hub.close();
      log.info("relay_stopped");
    },
  };
}

/** The metrics listener could not be opened (its port is taken, say). */
export class MetricsListenError extends Error {
  /** @param listen the address asked for; @param cause why it failed */
  constructor(readonly listen: { host: string; port: number }, cause: Error) {
    super(`Cannot serve metrics on ${listen.host}:${listen.port}: ${cause.message}`, { cause });
    this.name = "MetricsListenError";
  }
}
