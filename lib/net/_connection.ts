/**
 * One accepted connection of server.ts: its lifecycle (deadlines, eviction, close, linger after
 * a violation), its HTTP/1.1 exchanges (_exchange.ts) and, after an upgrade, its WebSocket's
 * read loop.
 *
 * @module
 */
import { encodeResponseHead, HttpError } from "./http1.ts";
import { type ConnectionGate, sourceKey } from "./limits.ts";
import type { ServeOptions, ServerEvent, ServerLimits } from "./server.ts";
import { ServerWebSocket, type WsOptions } from "./websocket.ts";
import { bodyStream, type ExchangeHost, type Phase, readHead, respond } from "./_exchange.ts";
import { concat, ConnIO, MAX_READ_BUFFER, WS_IDLE_BUFFER } from "./_io.ts";
import { REFUSE_DRAINING, refuseAndDrain, REFUSED } from "./_refuse.ts";

/** What every connection of one server shares. */
export interface ServerContext {
  limits: ServerLimits;
  handler: ServeOptions["handler"];
  emit(e: ServerEvent): void;
  errorAnswer: ServeOptions["errorAnswer"];
  gate: ConnectionGate<Connection>;
  open: Set<Connection>;
  base: string;
  stopping: boolean;
  onEmpty: (() => void) | undefined;
  /** Refused connections still draining (see refuse); shutdown waits for them. */
  refusing: Set<Promise<void>>;
}

const enc = new TextEncoder();
/** How long, and how much, a connection closed for a violation reads and discards first. */
const LINGER_MS = 1000;
const LINGER_BYTES = 4 * 1024 * 1024;

/** The connection of each request (for upgrades and trust). */
export const connections = new WeakMap<Request, Connection>();
/** The body of each request whose body came whole with its head (see bufferedBody). */
export const bufferedBodies = new WeakMap<Request, Uint8Array>();
/** The WebSocket of each 101 response made by upgradeWebSocket. */
export const upgrades = new WeakMap<Response, ServerWebSocket>();

/** One connection. */
export class Connection implements ExchangeHost {
  /** The request target of the head read last (for errorAnswer). */
  #target: string | undefined;
  readonly source: string;
  readonly remoteAddr: Deno.NetAddr;
  readonly io: ConnIO;
  readonly limits: ServerLimits;
  admitted = false;
  #closed = false;
  #deadline = Infinity;
  #phase: Phase = "head";
  #ws: ServerWebSocket | undefined;
  #paused: { promise: Promise<void>; resolve: () => void } | undefined;
  #busy = false; // a request is being handled
  #lingerUntil = 0;
  #idleSince = Infinity;
  #lingered = 0;

  constructor(readonly ctx: ServerContext, readonly conn: Deno.Conn) {
    this.io = new ConnIO(conn, () => this.#closed);
    this.limits = ctx.limits;
    this.remoteAddr = conn.remoteAddr as Deno.NetAddr;
    this.source = sourceKey(this.remoteAddr.hostname);
    try {
      (conn as Deno.TcpConn).setNoDelay?.(true);
    } catch { /* not TCP */ }
  }

  /** Answers 503 (Retry-After: 1) so that a client can tell refusal from failure; then frees. */
  refuse(): void {
    const refusing = this.ctx.refusing;
    if (refusing.size >= REFUSE_DRAINING || this.ctx.stopping) {
      this.conn.write(REFUSED).catch(() => {}).finally(() => this.#closeConn());
      return;
    }
    const p: Promise<void> = refuseAndDrain(this.conn, () => this.#closeConn()).finally(() => {
      refusing.delete(p);
      this.#closeConn();
    });
    refusing.add(p);
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

  /** When this connection went idle between requests (keep-alive), or Infinity if it is not. */
  get idleSince(): number {
    return this.#phase === "idle" && this.io.len === 0 && !this.#ws ? this.#idleSince : Infinity;
  }

  /** ExchangeHost: the deadline of a phase (`Infinity`: none). */
  deadline(phase: Phase, ms: number): void {
    if (phase === "idle" && this.#phase !== "idle") this.#idleSince = Date.now();
    this.#phase = phase;
    this.#deadline = ms === Infinity ? Infinity : Date.now() + ms;
  }

  /** ExchangeHost: the phase whose deadline runs. */
  get phase(): Phase {
    return this.#phase;
  }

  async run(): Promise<void> {
    try {
      await this.#serveHttp();
    } catch (e) {
      if (e instanceof HttpError && !this.#closed) {
        this.ctx.emit({ kind: "bad_request", status: e.status, message: e.message });
        const own = this.ctx.errorAnswer?.(e.status, e.message, this.#target);
        const body = own?.body ?? enc.encode(`${e.message}\n`);
        const headers: [string, string][] = own?.headers ?? [["content-type", "text/plain"]];
        if (e.status === 426) headers.push(["sec-websocket-version", "13"]);
        const head = encodeResponseHead(e.status, headers, {
          length: body.length,
          keepAlive: false,
        });
        this.deadline("write", this.ctx.limits.writeTimeoutMs);
        await this.io.write(concat(enc.encode(head), body)).catch(() => {});
      }
    } finally {
      if (!this.#ws) this.close();
    }
  }

  async #serveHttp(): Promise<void> {
    const l = this.ctx.limits;
    for (let first = true; !this.#closed && !this.ctx.stopping; first = false) {
      const head = await readHead(this, first);
      if (!head) return;
      this.#target = head.target;
      this.#busy = true;
      this.deadline("request", l.requestTimeoutMs);
      if (head.body.kind === "length" && head.body.length > l.maxBodyBytes) {
        throw new HttpError(413, `Body exceeds ${l.maxBodyBytes} bytes`);
      }
      const body = bodyStream(this, head);
      let req: Request;
      try {
        req = new Request(this.ctx.base + head.target, {
          method: head.method,
          headers: head.headers,
          body: body.bytes ?? body.stream,
          // deno-lint-ignore no-explicit-any
          ...({ duplex: "half" } as any),
        });
      } catch (e) {
        throw new HttpError(400, `Cannot parse request: ${(e as Error).message}`);
      }
      connections.set(req, this);
      if (body.bytes) bufferedBodies.set(req, body.bytes);
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
      const keepAlive = await respond(this, head, res, keep) && keep;
      this.#busy = false;
      if (!keepAlive || this.io.eof) return;
    }
  }

  makeWebSocket(o: WsOptions): ServerWebSocket {
    if (this.#ws) throw new TypeError("The connection is already upgraded");
    this.#ws = new ServerWebSocket(
      {
        write: (b) => {
          if (this.#closed) return Promise.reject(new Deno.errors.BrokenPipe("closed"));
          return this.io.write(b);
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
      await this.io.write(
        enc.encode(encodeResponseHead(101, res.headers, { keepAlive: true, raw: true })),
      );
    } catch {
      return this.close();
    }
    ws.started(); // frames the handler queued before returning go after the 101
    // Bytes that came with the upgrade request belong to the WebSocket.
    const io = this.io;
    if (io.len > 0) {
      const early = io.buf.slice(0, io.len);
      io.len = 0;
      ws.receive(early, Date.now());
    }
    io.buf = new Uint8Array(WS_IDLE_BUFFER); // the HTTP head's buffer is not needed any more
    let big = 0;
    while (!this.#closed) {
      if (this.#paused) await this.#paused.promise;
      if (this.#closed || !await io.fill(MAX_READ_BUFFER)) break;
      const n = io.len;
      io.len = 0;
      if (this.#lingerUntil > 0) {
        if ((this.#lingered += n) > LINGER_BYTES) break; // discarded enough
        continue;
      }
      ws.receive(io.buf.subarray(0, n), Date.now());
      // Grow the read buffer for a busy link, shrink it back for an idle one: idle links hold
      // a small buffer each (WS_IDLE_BUFFER), busy ones read up to 64 KiB per call.
      if (n === io.buf.length && io.buf.length < MAX_READ_BUFFER) {
        io.buf = new Uint8Array(io.buf.length * 2);
      } else if (n < io.buf.length / 8 && io.buf.length > WS_IDLE_BUFFER && ++big > 16) {
        big = 0;
        io.buf = new Uint8Array(io.buf.length / 2);
      }
    }
    this.close();
  }
}
