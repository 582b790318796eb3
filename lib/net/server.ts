/**
 * An HTTP/1.1 server with WebSocket upgrades, on `Deno.listen` / `Deno.listenTls`, for the relay
 * and the local API. Handlers take a web `Request` and return a `Response`, as with `Deno.serve`.
 *
 * Why not `Deno.serve`: its accept loop ends the process when descriptors run out, it has no
 * deadline for a request head (a half-sent head holds its connection forever), no cap on
 * connections, and its WebSocket buffers messages of up to 64 MiB. Here:
 *
 * - accept errors are reported and retried after a backoff; the process keeps serving;
 * - connections are capped in total (derived from the descriptor limit, see limits.ts) and per
 *   source (an IPv4 address or an IPv6 /64); over the total cap the oldest untrusted connection
 *   of the biggest source makes room, over the per-source cap a newcomer is refused at once;
 * - every phase has a deadline: the first request head, a keep-alive wait, a head once its first
 *   byte arrived, the body and handler, each write;
 * - heads and bodies are size-limited as they arrive, never by a declared length alone;
 * - WebSocket messages are limited by a size the owner sets (websocket.ts).
 *
 * Responses whose content type is `text/event-stream` or `application/x-ndjson` are streamed
 * chunk by chunk (chunked coding); other bodies are read whole and sent with Content-Length.
 *
 * @module
 */
import { connectionBudget, ConnectionGate, type Refusal } from "./limits.ts";
import type { ServerWebSocket, WsOptions } from "./websocket.ts";
import {
  bufferedBodies,
  Connection,
  connections,
  type ServerContext,
  upgrades,
} from "./_connection.ts";
import type { Phase } from "./_exchange.ts";
import { acceptKey, checkUpgrade } from "./_upgrade.ts";

/** Limits of a server; every phase of a connection is bounded. */
export interface ServerLimits {
  /** Open connections at once (clamped to the descriptor budget). */
  maxConnections: number;
  /** Open connections per source (IPv4 address or IPv6 /64). */
  maxConnectionsPerSource: number;
  /** Time from accepting to a complete first head, and from a head's first byte to its end. */
  headTimeoutMs: number;
  /** Time an idle keep-alive connection waits for the next request. */
  keepAliveTimeoutMs: number;
  /** Time from a complete head to the start of the response (body upload and handler). */
  requestTimeoutMs: number;
  /** Time one write may take without finishing (a peer that stopped reading). */
  writeTimeoutMs: number;
  /** Largest request head. */
  maxHeadBytes: number;
  /** Largest request body (handlers may set lower limits of their own). */
  maxBodyBytes: number;
  /**
   * At the total cap with nothing to evict: `refuse` accepts and answers 503 (a public server:
   * the refusal is explicit), `wait` stops accepting until a connection closes, so newcomers
   * wait in the kernel's listen queue (a local API whose clients are all its user's: they are
   * served late rather than refused).
   */
  whenFull: "refuse" | "wait";
  /**
   * Untrusted connections younger than this are not evicted to make room (ms): a client that
   * has just connected is about to send its request, and losing it would fail that request.
   */
  evictAfterMs: number;
}

/** Defaults, sized for a public server; the local API lowers some (api/serve.ts). */
export const DEFAULT_SERVER_LIMITS: Readonly<ServerLimits> = {
  maxConnections: 1 << 20, // clamped to the descriptor budget at start
  maxConnectionsPerSource: 256,
  headTimeoutMs: 10_000, // a head is a few hundred bytes: 10 s covers any real link
  keepAliveTimeoutMs: 75_000, // above common client pool idle times (60 s), so the client closes
  requestTimeoutMs: 30_000,
  writeTimeoutMs: 30_000,
  maxHeadBytes: 16 * 1024, // the largest head schied's clients send is under 1 KiB
  maxBodyBytes: 1 << 20,
  whenFull: "refuse",
  evictAfterMs: 0,
};

/** Something the server did that the owner may log or count (never with request content). */
export type ServerEvent =
  | { kind: "accept_error"; error: string }
  | { kind: "refused"; reason: Refusal }
  | { kind: "evicted" }
  | { kind: "timeout"; phase: Phase }
  | { kind: "bad_request"; status: number; message: string }
  | { kind: "handler_error"; error: unknown };

/** What a handler learns about the connection. */
export interface RequestInfo {
  /** The peer's address. */
  remoteAddr: Deno.NetAddr;
  /** The key the peer is counted under (limits.ts sourceKey). */
  source: string;
}

/** Options of serve(). */
export interface ServeOptions {
  hostname: string;
  port: number;
  /** PEM certificate and key: serve HTTPS / WSS. */
  tls?: { cert: string; key: string };
  limits?: Partial<ServerLimits>;
  handler(req: Request, info: RequestInfo): Response | Promise<Response>;
  onEvent?(e: ServerEvent): void;
  /**
   * The body and headers of the answers the server gives itself, before any handler (a body over
   * maxBodyBytes: 413, a malformed request: 400, a head too large: 431): plain text by default,
   * the owner's error format when given (the local API's JSON error body).
   */
  errorAnswer?(status: number, message: string, target: string | undefined): ErrorAnswer;
  /** Descriptor budget (tests); default from the process's limit. */
  fdBudget?: number;
}

/** An answer the server gives itself (see ServeOptions.errorAnswer). */
export interface ErrorAnswer {
  headers: [string, string][];
  body: Uint8Array;
}

/** A running server. */
export interface Server {
  /** The address bound. */
  addr: Deno.NetAddr;
  /** The limits in force (maxConnections already clamped). */
  limits: Readonly<ServerLimits>;
  /** Connections open now. */
  readonly connections: number;
  /** Resolves once the server stopped and every connection is closed. */
  finished: Promise<void>;
  /** Stops accepting; waits up to `graceMs` for open connections, then drops the rest. */
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * Upgrades a request of this server to a WebSocket; return `response` from the handler.
 * Throws HttpError(400/426) when the request is not a valid upgrade.
 *
 * @example
 * ```ts
 * const { socket, response } = upgradeWebSocket(req, { maxMessage: 160 });
 * socket.onmessage = (data) => socket.send(data);
 * return response;
 * ```
 */
export function upgradeWebSocket(
  req: Request,
  o: WsOptions = {},
): { socket: ServerWebSocket; response: Response } {
  const c = connections.get(req);
  if (!c) throw new TypeError("Not a request of lib/net's server");
  const key = checkUpgrade(req);
  const socket = c.makeWebSocket(o);
  const response = new Response(null, {
    status: 101,
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-accept": acceptKey(key),
    },
  });
  upgrades.set(response, socket);
  return { socket, response };
}

/**
 * The body of `req` when it came whole with its head (this server's requests only), else
 * undefined: what `req` was made with, readable without a stream (`req.body` still gives it).
 */
export function bufferedBody(req: Request): Uint8Array | undefined {
  return bufferedBodies.get(req);
}

/** Marks the connection of `req` trusted (e.g. it presented a valid token): never evicted. */
export function trustConnection(req: Request): void {
  connections.get(req)?.trust();
}

/**
 * Gives the request `req` another `ms` before its deadline (requestTimeoutMs, from its head):
 * for a long upload, called as its body makes progress, so that a slow but live transfer is not
 * cut off while a stalled one still is.
 */
export function extendRequest(req: Request, ms: number): void {
  const c = connections.get(req);
  if (c && c.phase === "request") c.deadline("request", ms);
}

/**
 * Starts serving; resolves once listening.
 *
 * @example
 * ```ts
 * const s = serve({ hostname: "127.0.0.1", port: 0, handler: () => new Response("hi") });
 * console.log(s.addr.port);
 * await s.shutdown();
 * ```
 */
export function serve(o: ServeOptions): Server {
  const limits: ServerLimits = { ...DEFAULT_SERVER_LIMITS, ...o.limits };
  limits.maxConnections = Math.min(limits.maxConnections, o.fdBudget ?? connectionBudget());
  const listener = o.tls
    ? Deno.listenTls({ hostname: o.hostname, port: o.port, cert: o.tls.cert, key: o.tls.key })
    : Deno.listen({ hostname: o.hostname, port: o.port });
  const ctx: ServerContext = {
    limits,
    handler: o.handler,
    emit: o.onEvent ?? (() => {}),
    errorAnswer: o.errorAnswer,
    gate: new ConnectionGate<Connection>(
      limits.maxConnections,
      limits.maxConnectionsPerSource,
      limits.evictAfterMs,
    ),
    open: new Set(),
    base: `${o.tls ? "https" : "http"}://${
      o.hostname.includes(":") ? `[${o.hostname}]` : o.hostname
    }:${(listener.addr as Deno.NetAddr).port}`,
    stopping: false,
    onEmpty: undefined,
    refusing: new Set(),
  };
  const tickMs = Math.max(20, Math.min(1000, limits.headTimeoutMs / 4, limits.writeTimeoutMs / 4));
  const timer = setInterval(() => {
    const now = Date.now();
    for (const c of ctx.open) c.tick(now);
  }, tickMs);
  const accepting = acceptLoop(listener, ctx);
  const finished = (async () => {
    await accepting;
    if (ctx.open.size > 0) await new Promise<void>((r) => (ctx.onEmpty = r));
    await Promise.all(ctx.refusing);
    clearInterval(timer);
  })();
  return {
    addr: listener.addr as Deno.NetAddr,
    limits,
    get connections() {
      return ctx.open.size;
    },
    finished,
    async shutdown(graceMs = 2000) {
      if (!ctx.stopping) {
        ctx.stopping = true;
        try {
          listener.close();
        } catch { /* closed */ }
        for (const c of [...ctx.open]) c.closeIfIdle();
        const grace = setTimeout(() => {
          for (const c of [...ctx.open]) c.close();
        }, graceMs);
        await finished;
        clearTimeout(grace);
      }
      await finished;
    },
  };
}

/** How often a server waiting for room (whenFull "wait") looks again without a release (ms). */
const ROOM_POLL_MS = 100;

/**
 * whenFull "wait": returns once a newcomer can be admitted. A keep-alive connection idle between
 * requests for evictAfterMs or more is closed to make room (the longest idle first): HTTP lets a
 * server close an idle connection, and clients retry a request that found one closed, whereas
 * newcomers kept waiting behind idle connections would wait for as long as those stay open.
 * A trusted one is closed so only while no untrusted connection holds a place: those are evicted
 * (ConnectionGate) once evictAfterMs old, so room comes within that anyway, and otherwise a flood
 * of connections that never authenticate would push out the user's own idle clients first (a
 * half-sent head is not idle; a client that authenticated and then paused is).
 */
async function waitForRoom(ctx: ServerContext): Promise<void> {
  while (!ctx.stopping && !ctx.gate.hasRoom()) {
    const now = Date.now();
    const spareTrusted = ctx.gate.hasUntrusted;
    let idlest: Connection | undefined;
    for (const c of ctx.open) {
      if (c.idleSince > now - ctx.limits.evictAfterMs) continue;
      if (spareTrusted && ctx.gate.isTrusted(c)) continue;
      if (!idlest || c.idleSince < idlest.idleSince) idlest = c;
    }
    if (idlest) {
      idlest.evict();
      continue;
    }
    await ctx.gate.released(ROOM_POLL_MS);
  }
}

async function acceptLoop(listener: Deno.Listener, ctx: ServerContext): Promise<void> {
  let backoff = 0;
  while (!ctx.stopping) {
    let conn: Deno.Conn;
    if (ctx.limits.whenFull === "wait") {
      await waitForRoom(ctx);
      if (ctx.stopping) break;
    }
    try {
      conn = await listener.accept();
      backoff = 0;
    } catch (e) {
      if (ctx.stopping || e instanceof Deno.errors.BadResource) break;
      // EMFILE, ENFILE, ENOMEM…: the pending connection stays in the kernel's queue; wait a
      // little (10 ms doubling to 1 s) and try again. The process never ends over it.
      ctx.emit({ kind: "accept_error", error: (e as Error).message });
      backoff = Math.min(1000, Math.max(10, backoff * 2));
      await new Promise((r) => setTimeout(r, backoff));
      continue;
    }
    const c = new Connection(ctx, conn);
    let refusal = ctx.gate.admit(c);
    // Full again since room() said otherwise (what it would have evicted became trusted): this
    // one connection is held, unread, until there is room.
    while (refusal === "total" && ctx.limits.whenFull === "wait" && !ctx.stopping) {
      await waitForRoom(ctx);
      refusal = ctx.gate.admit(c);
    }
    if (refusal) {
      ctx.emit({ kind: "refused", reason: refusal });
      c.refuse();
      continue;
    }
    c.admitted = true;
    ctx.open.add(c);
    void c.run();
  }
}
