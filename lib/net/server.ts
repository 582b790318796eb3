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
import {
  ChunkedDecoder,
  encodeResponseHead,
  findHeadEnd,
  HttpError,
  parseRequestHead,
  type RequestHead,
} from "./http1.ts";
import { connectionBudget, ConnectionGate, type Refusal, sourceKey } from "./limits.ts";
import { ServerWebSocket, type WsOptions } from "./websocket.ts";
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
};

/** Something the server did that the owner may log or count (never with request content). */
export type ServerEvent =
  | { kind: "accept_error"; error: string }
  | { kind: "refused"; reason: Refusal }
  | { kind: "evicted" }
  | { kind: "timeout"; phase: Phase }
  | { kind: "bad_request"; status: number; message: string }
  | { kind: "handler_error"; error: unknown };

type Phase = "head" | "idle" | "request" | "write";

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
  /** Descriptor budget (tests); default from the process's limit. */
  fdBudget?: number;
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

const STREAMING = /^(text\/event-stream|application\/x-ndjson)\b/i;
const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");
const REFUSED = new TextEncoder().encode(
  "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
);
const enc = new TextEncoder();
const INITIAL_BUFFER = 4096;
/** How long, and how much, a connection closed for a violation reads and discards first. */
const LINGER_MS = 1000;
const LINGER_BYTES = 4 * 1024 * 1024;
const MAX_READ_BUFFER = 64 * 1024;

const connections = new WeakMap<Request, Connection>();
const upgrades = new WeakMap<Response, ServerWebSocket>();

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

/** Marks the connection of `req` trusted (e.g. it presented a valid token): never evicted. */
export function trustConnection(req: Request): void {
  connections.get(req)?.trust();
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
    gate: new ConnectionGate<Connection>(limits.maxConnections, limits.maxConnectionsPerSource),
    open: new Set(),
    base: `${o.tls ? "https" : "http"}://${
      o.hostname.includes(":") ? `[${o.hostname}]` : o.hostname
    }:${(listener.addr as Deno.NetAddr).port}`,
    stopping: false,
    onEmpty: undefined,
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

interface ServerContext {
  limits: ServerLimits;
  handler: ServeOptions["handler"];
  emit(e: ServerEvent): void;
  gate: ConnectionGate<Connection>;
  open: Set<Connection>;
  base: string;
  stopping: boolean;
  onEmpty: (() => void) | undefined;
}

async function acceptLoop(listener: Deno.Listener, ctx: ServerContext): Promise<void> {
  let backoff = 0;
  while (!ctx.stopping) {
    let conn: Deno.Conn;
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
    const refusal = ctx.gate.admit(c);
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

class Connection {
  readonly source: string;
  readonly remoteAddr: Deno.NetAddr;
  admitted = false;
  #buf = new Uint8Array(INITIAL_BUFFER);
  #len = 0;
  #fillP: Promise<boolean> | undefined;
  #eof = false;
  #closed = false;
  #deadline = Infinity;
  #phase: Phase = "head";
  #ws: ServerWebSocket | undefined;
  #paused: { promise: Promise<void>; resolve: () => void } | undefined;
  #busy = false; // a request is being handled
  #lingerUntil = 0;
  #lingered = 0;

  constructor(readonly ctx: ServerContext, readonly conn: Deno.Conn) {
    this.remoteAddr = conn.remoteAddr as Deno.NetAddr;
    this.source = sourceKey(this.remoteAddr.hostname);
    try {
      (conn as Deno.TcpConn).setNoDelay?.(true);
    } catch { /* not TCP */ }
  }

  refuse(): void {
    // A short 503 so that a client can tell refusal from failure; then the descriptor is freed.
    this.conn.write(REFUSED).catch(() => {}).finally(() => this.#closeConn());
  }

  #closeConn(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }

  trust(): void {
    this.ctx.gate.trust(this);
  }

  evict(): void {
    this.ctx.emit({ kind: "evicted" });
    this.close(true);
  }

  close(evicted = false): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeConn();
    this.ctx.gate.release(this, this.admitted);
    this.ctx.open.delete(this);
    this.#paused?.resolve();
    this.#ws?.transportClosed(evicted);
    if (this.ctx.stopping && this.ctx.open.size === 0) this.ctx.onEmpty?.();
  }

  /**
   * Closes after a violation without resetting: the sending side is shut (the close frame is
   * out), and what the peer still sends is read and discarded for up to LINGER_MS or
   * LINGER_BYTES, then the connection closes. Its WebSocket reports the close at once.
   */
  #linger(): void {
    if (this.#closed || this.#lingerUntil > 0) return;
    this.#lingerUntil = Date.now() + LINGER_MS;
    try {
      (this.conn as Deno.TcpConn).closeWrite();
    } catch { /* already shut */ }
    this.#ws?.transportClosed();
  }

  closeIfIdle(): void {
    if (!this.#busy && !this.#ws) this.close();
  }

  tick(now: number): void {
    if (this.#lingerUntil > 0) {
      if (now >= this.#lingerUntil) this.close();
      return;
    }
    if (this.#ws) return this.#ws.tick(now, this.ctx.limits.writeTimeoutMs);
    if (now >= this.#deadline) {
      this.ctx.emit({ kind: "timeout", phase: this.#phase });
      this.close();
    }
  }

  #setDeadline(phase: Phase, ms: number): void {
    this.#phase = phase;
    this.#deadline = Date.now() + ms;
  }

  /** Reads more bytes into the buffer (growing it up to `max`); false at end of stream. */
  #fill(max: number): Promise<boolean> {
    return this.#fillP ??= this.#doFill(max).finally(() => (this.#fillP = undefined));
  }

  async #doFill(max: number): Promise<boolean> {
    if (this.#eof || this.#closed) return false;
    if (this.#len === this.#buf.length) {
      const cap = Math.min(Math.max(max, INITIAL_BUFFER), this.#buf.length * 2);
      if (cap <= this.#buf.length) throw new HttpError(431, "Request head too large");
      const nb = new Uint8Array(cap);
      nb.set(this.#buf.subarray(0, this.#len));
      this.#buf = nb;
    }
    let n: number | null;
    try {
      n = await this.conn.read(this.#buf.subarray(this.#len));
    } catch {
      n = null;
    }
    if (n === null) {
      this.#eof = true;
      return false;
    }
    this.#len += n;
    return true;
  }

  #consume(n: number): void {
    this.#buf.copyWithin(0, n, this.#len);
    this.#len -= n;
  }

  async #write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      if (this.#closed) throw new Deno.errors.BrokenPipe("connection closed");
      off += await this.conn.write(bytes.subarray(off));
    }
  }

  async run(): Promise<void> {
    try {
      await this.#serveHttp();
    } catch (e) {
      if (e instanceof HttpError && !this.#closed) {
        this.ctx.emit({ kind: "bad_request", status: e.status, message: e.message });
        const body = enc.encode(`${e.message}\n`);
        const headers: [string, string][] = [["content-type", "text/plain"]];
        if (e.status === 426) headers.push(["sec-websocket-version", "13"]);
        const head = encodeResponseHead(e.status, headers, {
          length: body.length,
          keepAlive: false,
        });
        this.#setDeadline("write", this.ctx.limits.writeTimeoutMs);
        await this.#write(concat(enc.encode(head), body)).catch(() => {});
      }
    } finally {
      if (!this.#ws) this.close();
    }
  }

  async #readHead(first: boolean): Promise<RequestHead | null> {
    const l = this.ctx.limits;
    let scanned = 0;
    this.#setDeadline(first ? "head" : "idle", first ? l.headTimeoutMs : l.keepAliveTimeoutMs);
    while (true) {
      // Empty lines before a request line are ignored (RFC 9112, 2.2).
      let skip = 0;
      while (skip + 1 < this.#len && this.#buf[skip] === 0x0d && this.#buf[skip + 1] === 0x0a) {
        skip += 2;
      }
      if (skip > 0) {
        this.#consume(skip);
        scanned = 0;
      }
      if (this.#len > 0 && this.#phase === "idle") this.#setDeadline("head", l.headTimeoutMs);
      const end = findHeadEnd(this.#buf, this.#len, Math.max(0, scanned - 3));
      if (end > l.maxHeadBytes || (end < 0 && this.#len >= l.maxHeadBytes)) {
        throw new HttpError(431, `Request head exceeds ${l.maxHeadBytes} bytes`);
      }
      if (end >= 0) {
        const head = parseRequestHead(this.#buf.subarray(0, end));
        this.#consume(end);
        return head;
      }
      scanned = this.#len;
      if (!await this.#fill(l.maxHeadBytes)) {
        if (this.#len > 0) throw new HttpError(400, "Connection closed in the middle of a head");
        return null;
      }
    }
  }

  async #serveHttp(): Promise<void> {
    const l = this.ctx.limits;
    for (let first = true; !this.#closed && !this.ctx.stopping; first = false) {
      const head = await this.#readHead(first);
      if (!head) return;
      this.#busy = true;
      this.#setDeadline("request", l.requestTimeoutMs);
      if (head.body.kind === "length" && head.body.length > l.maxBodyBytes) {
        throw new HttpError(413, `Body exceeds ${l.maxBodyBytes} bytes`);
      }
      const body = this.#bodyStream(head);
      let req: Request;
      try {
        req = new Request(this.ctx.base + head.target, {
          method: head.method,
          headers: head.headers,
          body: body.stream,
          // deno-lint-ignore no-explicit-any
          ...({ duplex: "half" } as any),
        });
      } catch (e) {
        throw new HttpError(400, `Cannot parse request: ${(e as Error).message}`);
      }
      connections.set(req, this);
      let res: Response;
      try {
        res = await this.ctx.handler(req, { remoteAddr: this.remoteAddr, source: this.source });
      } catch (e) {
        // A refused upgrade or a bad body (413, 400) is the client's fault: answer it.
        if (e instanceof HttpError) throw e;
        if (body.error()) throw body.error();
        this.ctx.emit({ kind: "handler_error", error: e });
        res = new Response("Internal Server Error\n", { status: 500 });
      }
      if (this.#closed) return;
      // The body failed (over the limit, malformed) whatever the handler made of it.
      if (body.error() && !upgrades.has(res)) throw body.error();
      const ws = upgrades.get(res);
      if (ws && ws === this.#ws) return this.#startWebSocket(res);
      this.#ws = undefined; // an upgrade the handler started but did not answer with
      // A body the handler left unread cannot be skipped reliably: say so, then close.
      const keep = head.keepAlive && body.done() && !this.ctx.stopping;
      const keepAlive = await this.#respond(head, res, keep) && keep;
      this.#busy = false;
      if (!keepAlive || this.#eof) return;
    }
  }

  #bodyStream(
    head: RequestHead,
  ): {
    stream: ReadableStream<Uint8Array> | null;
    done(): boolean;
    error(): HttpError | undefined;
  } {
    if (head.body.kind === "none") {
      return { stream: null, done: () => true, error: () => undefined };
    }
    let failed: HttpError | undefined;
    const fail = (ctl: ReadableStreamDefaultController<Uint8Array>, e: unknown) => {
      failed = e instanceof HttpError ? e : new HttpError(400, String(e));
      ctl.error(failed);
    };
    const l = this.ctx.limits;
    let continued = !head.expectContinue;
    let finished = false;
    let left = head.body.kind === "length" ? head.body.length : 0;
    const chunked = head.body.kind === "chunked" ? new ChunkedDecoder(l.maxBodyBytes) : undefined;
    const stream = new ReadableStream<Uint8Array>({
      pull: async (ctl) => {
        if (!continued) {
          continued = true;
          await this.#write(CONTINUE);
        }
        while (true) {
          if (this.#len === 0 && !await this.#fill(MAX_READ_BUFFER)) {
            fail(ctl, new HttpError(400, "Connection closed in the middle of a body"));
            return;
          }
          if (chunked) {
            let step;
            try {
              step = chunked.push(this.#buf.subarray(0, this.#len));
            } catch (e) {
              fail(ctl, e);
              return;
            }
            const total = step.data.reduce((n, d) => n + d.length, 0);
            // A copy: the data are views into the read buffer, which the next read reuses.
            if (total > 0) ctl.enqueue(copyOf(step.data, total));
            this.#consume(step.consumed);
            if (step.done) {
              finished = true;
              ctl.close();
              return;
            }
            if (total > 0) return;
          } else {
            const n = Math.min(left, this.#len);
            ctl.enqueue(this.#buf.slice(0, n));
            this.#consume(n);
            left -= n;
            if (left === 0) {
              finished = true;
              ctl.close();
            }
            return;
          }
        }
      },
      // highWaterMark 0: nothing is pulled (and no 100 Continue sent) before the handler reads.
    }, { highWaterMark: 0 });
    return { stream, done: () => finished, error: () => failed };
  }

  async #respond(head: RequestHead, res: Response, keep: boolean): Promise<boolean> {
    const l = this.ctx.limits;
    const isHead = head.method === "HEAD";
    const streaming = res.body !== null && STREAMING.test(res.headers.get("content-type") ?? "");
    if (!streaming) {
      // HEAD: the length GET would have (RFC 9110 8.6), without the body.
      const body = res.body ? new Uint8Array(await res.arrayBuffer()) : new Uint8Array();
      const declared = res.headers.get("content-length");
      const length = isHead && res.body === null && declared ? Number(declared) : body.length;
      const text = encodeResponseHead(res.status, res.headers, { length, keepAlive: keep });
      this.#setDeadline("write", l.writeTimeoutMs);
      await this.#write(isHead ? enc.encode(text) : concat(enc.encode(text), body));
      return true;
    }
    if (isHead) {
      await res.body!.cancel().catch(() => {});
      const text = encodeResponseHead(res.status, res.headers, { chunked: true, keepAlive: keep });
      this.#setDeadline("write", l.writeTimeoutMs);
      await this.#write(enc.encode(text));
      return true;
    }
    const chunked = head.minor === 1;
    this.#setDeadline("write", l.writeTimeoutMs);
    await this.#write(enc.encode(encodeResponseHead(res.status, res.headers, {
      chunked,
      keepAlive: keep && chunked,
      raw: !chunked,
    })));
    const reader = res.body!.getReader();
    // While streaming, a read watches for the client going away.
    let gone = false;
    const watch = this.#fill(MAX_READ_BUFFER).then((more) => {
      if (!more) {
        gone = true;
        reader.cancel().catch(() => {});
      }
    }, () => {});
    void watch;
    try {
      while (true) {
        this.#deadline = Infinity; // waiting for the next event is not a timeout
        const { done, value } = await reader.read();
        if (done || gone) break;
        if (value.length === 0) continue;
        this.#setDeadline("write", l.writeTimeoutMs);
        await this.#write(
          chunked
            ? concat(enc.encode(`${value.length.toString(16)}\r\n`), value, enc.encode("\r\n"))
            : value,
        );
      }
      if (gone) return false;
      if (chunked) await this.#write(enc.encode("0\r\n\r\n"));
      return chunked;
    } catch (e) {
      await reader.cancel().catch(() => {});
      throw e;
    }
  }

  makeWebSocket(o: WsOptions): ServerWebSocket {
    if (this.#ws) throw new TypeError("The connection is already upgraded");
    this.#ws = new ServerWebSocket(
      {
        write: (b) => {
          if (this.#closed) return Promise.reject(new Deno.errors.BrokenPipe("closed"));
          return this.#write(b);
        },
        close: (linger) => (linger ? this.#linger() : this.close()),
        setPaused: (p) => {
          if (p) this.#paused ??= Promise.withResolvers<void>();
          else {
            this.#paused?.resolve();
            this.#paused = undefined;
          }
        },
        trust: () => this.trust(),
        report: (e) => this.ctx.emit({ kind: "handler_error", error: e }),
      },
      o,
      Date.now(),
    );
    return this.#ws;
  }

  async #startWebSocket(res: Response): Promise<void> {
    const ws = this.#ws!;
    this.#deadline = Infinity;
    this.#busy = false;
    try {
      await this.#write(
        enc.encode(encodeResponseHead(101, res.headers, { keepAlive: true, raw: true })),
      );
    } catch {
      return this.close();
    }
    ws.started(); // frames the handler queued before returning go after the 101
    // Bytes that came with the upgrade request belong to the WebSocket.
    if (this.#len > 0) {
      const early = this.#buf.slice(0, this.#len);
      this.#len = 0;
      ws.receive(early, Date.now());
    }
    let big = 0;
    while (!this.#closed) {
      if (this.#paused) await this.#paused.promise;
      if (this.#closed || !await this.#fill(MAX_READ_BUFFER)) break;
      const n = this.#len;
      this.#len = 0;
      if (this.#lingerUntil > 0) {
        if ((this.#lingered += n) > LINGER_BYTES) break; // discarded enough
        continue;
      }
      ws.receive(this.#buf.subarray(0, n), Date.now());
      // Grow the read buffer for a busy link, shrink it back for an idle one: idle links hold
      // a small buffer each (4 KiB), busy ones read up to 64 KiB per call.
      if (n === this.#buf.length && this.#buf.length < MAX_READ_BUFFER) {
        this.#buf = new Uint8Array(this.#buf.length * 2);
      } else if (n < this.#buf.length / 8 && this.#buf.length > INITIAL_BUFFER && ++big > 16) {
        big = 0;
        this.#buf = new Uint8Array(this.#buf.length / 2);
      }
    }
    this.close();
  }
}

function copyOf(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
