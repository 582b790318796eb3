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
import { Hub } from "./hub.ts";
import { DEFAULT_LIMITS, type RelayLimits } from "./limits.ts";
import { type RelayContext } from "./link.ts";
import { type Logger, makeLogger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { Registry } from "./registry.ts";
import { makeHandler } from "./server.ts";
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
}

/** A running relay. */
export interface RunningRelay {
  /** The relay address daemons are configured with. */
  address: string;
  /** The port bound. */
  port: number;
  /** Counters (for tests). */
  metrics: Metrics;
  /** Stops accepting, closes every session, closes the registry. */
  close(): Promise<void>;
}

/** Starts a relay. */
export async function startRelay(o: RelayOptions): Promise<RunningRelay> {
  await ensurePrivateDir(o.stateDir);
  const key = await loadOrCreateRelayKey(o.stateDir);
  await ensurePrivateFile(`${o.stateDir}/${REGISTRY_FILE}`);
  const registry = Registry.open(`${o.stateDir}/${REGISTRY_FILE}`);
  const log: Logger = makeLogger({ logIps: o.logIps ?? false, quiet: o.quiet });
  if (key.created) log.info("relay_key_created");
  const ctx: RelayContext = {
    hub: o.hub ?? new Hub(),
    registry,
    metrics: new Metrics(),
    log,
    limits: { ...DEFAULT_LIMITS, ...o.limits },
    staticKey: key,
    openRegistration: o.openRegistration ?? true,
    now: o.now ?? Date.now,
    pending: { count: 0 },
    tap: o.tap,
  };
  const host = o.host ?? "127.0.0.1";
  const ac = new AbortController();
  const server = Deno.serve({
    hostname: host,
    port: o.port ?? 8765,
    signal: ac.signal,
    onListen: () => {},
    ...(o.tls ? { cert: o.tls.cert, key: o.tls.key } : {}),
  }, makeHandler(ctx));
  const port = server.addr.port;
  const shownHost = o.publicHost ?? (host.includes(":") ? `[${host}]` : host);
  const scheme = o.tls ? "wss" : "ws";
  const address = formatRelayAddress(`${scheme}://${shownHost}:${port}/`, key.publicKey);
  log.info("relay_listening", { port, tls: !!o.tls, registry_ids: registry.count() });
  let closed = false;
  return {
    address,
    port,
    metrics: ctx.metrics,
    async close() {
      if (closed) return;
      closed = true;
      for (const s of ctx.hub.all()) s.terminate("shutting_down", "Relay is shutting down");
      ac.abort();
      await server.finished;
      registry.close();
      log.info("relay_stopped");
    },
  };
}
