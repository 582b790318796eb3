/**
 * Serves the API on a loopback address with lib/net (not Deno.serve, whose accept loop ends the
 * process when descriptors run out and which never times out a half-sent head). Port 0 picks a
 * free port; the app is made once the port is known, as the Host check needs it.
 *
 * Its connections have their own small cap (API_LIMITS): every client is local, so the cap is
 * about another local user or a stuck script, not the internet. A connection counts as trusted
 * once it has sent the right token; at the cap the oldest untrusted one makes room, so
 * connections that never authenticate cannot lock the CLI out.
 *
 * @module
 */
import type { Hono } from "hono";
import { type ErrorAnswer, serve, type ServerEvent, type ServerLimits } from "../lib/net/mod.ts";
import { type ApiOptions, createApi } from "./app.ts";
import { httpLayerError } from "./errors.ts";
import { type ApiEnv, SECURITY_HEADERS } from "./guard.ts";

const encoder = new TextEncoder();

/**
 * lib/net's own refusals (413, 400, 431) in the API's error format and security headers; a body
 * over the cap on /files names the limit its sender can act on, max-file-bytes.
 */
function httpErrorAnswer(maxFileBytes: () => number) {
  return (status: number, message: string, target?: string): ErrorAnswer => ({
    headers: [["content-type", "application/json"], ...Object.entries(SECURITY_HEADERS)],
    body: encoder.encode(
      JSON.stringify(httpLayerError(status, message, target, maxFileBytes())),
    ),
  });
}

/**
 * Connection limits of the local API. 1,024 connections: the CLI uses one or two, a script with
 * a pool a few dozen, `schied listen` one each. Under 2× overload from 1,000 connections (deno
 * task bench, overload_rss_growth) every one is admitted, and sends past MAX_SENDS_IN_FLIGHT
 * (daemon/_engine_send.ts) are refused at once as `busy`, so admitted connections do not mean
 * work in flight: at ~2,000 POST/s offered every request was answered (p99 0.34 s); with 256
 * connections the rest waited in the listen queue for up to 12 s. A head in 10 s, a body and
 * answer in 30 s.
 */
export const API_LIMITS: Readonly<Partial<ServerLimits>> = {
  maxConnections: 1024,
  // Every client is on loopback: one source. No per-source cap, then: one equal to the total
  // is checked first and would refuse the CLI at the cap instead of evicting for it.
  maxConnectionsPerSource: Number.POSITIVE_INFINITY,
  headTimeoutMs: 10_000,
  keepAliveTimeoutMs: 75_000,
  requestTimeoutMs: 30_000,
  writeTimeoutMs: 30_000,
  maxHeadBytes: 16 * 1024,
  maxBodyBytes: 1 << 20, // the routes' own limits (guard.ts) are lower
  // At the cap, newcomers wait in the kernel's listen queue: every authenticated client is the
  // user's own, and a client refused (or evicted just after connecting) fails its request.
  whenFull: "wait",
  // Untrusted (no request with the token yet) for a second: not a client about to ask; idle
  // between requests for a second: closed to make room when newcomers wait.
  evictAfterMs: 1000,
};

/** The default API port. */
export const DEFAULT_API_PORT = 7777;

/** Loopback addresses the API may bind; it never listens beyond the machine. */
export type LoopbackHost = "127.0.0.1" | "::1" | "localhost";

/** Options of serveApi: the app's, minus what serveApi sets itself. */
export interface ServeApiOptions extends Omit<ApiOptions, "port" | "closeSignal"> {
  /** Port to listen on; 0 picks a free one (default 7777). */
  port?: number;
  /** Loopback address to bind (default 127.0.0.1). */
  hostname?: LoopbackHost | string;
  /**
   * Allows a non-loopback `hostname`. Anyone who can reach it and holds the token can act as
   * this identity, over plain HTTP: only for a trusted network, and only when asked for.
   */
  allowNonLoopback?: boolean;
  /** Overrides API_LIMITS (tests). */
  limits?: Partial<ServerLimits>;
  /** Sees what the server refused or timed out (the daemon logs it in aggregate). */
  onServerEvent?: (e: ServerEvent) => void;
}

/** A running API server. */
export interface ApiServer {
  /** The port it listens on. */
  port: number;
  /** Its base URL, e.g. `http://127.0.0.1:7777`. */
  url: string;
  /** The app it serves. */
  app: Hono<ApiEnv>;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
  /** Ends the open event streams and stops the server. */
  shutdown(): Promise<void>;
}

/**
 * Starts serving the API on loopback.
 *
 * @example
 * ```ts
 * const server = serveApi({ service, token, port: 0 });
 * console.log(server.url); // "http://127.0.0.1:43117"
 * await server.shutdown();
 * ```
 */
export function serveApi(opts: ServeApiOptions): ApiServer {
  const hostname = opts.hostname ?? "127.0.0.1";
  const loopback = ["127.0.0.1", "::1", "localhost"].includes(hostname);
  if (!loopback && !opts.allowNonLoopback) {
    throw new TypeError(`The API only listens on loopback, not on "${hostname}"`);
  }
  const closing = new AbortController();
  const slot: { app?: Hono<ApiEnv> } = {};
  const server = serve({
    hostname,
    port: opts.port ?? DEFAULT_API_PORT,
    limits: { ...API_LIMITS, ...opts.limits },
    handler: (req) => slot.app!.fetch(req),
    onEvent: opts.onServerEvent,
    // What the HTTP layer refuses itself (a body over the connection's cap, a malformed
    // request) answers in the API's one error format, with its security headers.
    errorAnswer: httpErrorAnswer(() => opts.service.fileLimits().maxFileBytes),
  });
  // serve() has bound the port synchronously; no request is handled before this line runs.
  const port = server.addr.port;
  const shown = hostname.includes(":") ? `[${hostname}]` : hostname;
  const extraHosts = loopback ? [] : [`${shown}:${port}`];
  const app = createApi({ ...opts, port, closeSignal: closing.signal, extraHosts });
  slot.app = app;
  const host = shown;
  return {
    port,
    url: `http://${host}:${port}`,
    app,
    finished: server.finished,
    async shutdown() {
      closing.abort(); // ends the event streams, so their connections close too
      await server.shutdown();
    },
  };
}
