/**
 * Helpers of the lib/net tests: a served test server that records its events, a raw TCP peer
 * that writes exact bytes and waits on what it has read (no sleeps), an HTTP response reader,
 * and hand-built WebSocket frames.
 *
 * @module
 */
import net from "node:net";
import { serve, type ServeOptions, type Server, type ServerEvent } from "../../../lib/net/mod.ts";

export const enc = new TextEncoder();
const LATIN1 = new TextDecoder("latin1");

/** Bytes of a latin1 string (every char code below 256 is one byte). */
export function bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** A latin1 string of bytes. */
export function latin1(b: Uint8Array): string {
  return LATIN1.decode(b);
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Splits `data` at the given cut points (any numbers; taken modulo the length, sorted). */
export function splitAt(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => (data.length ? c % (data.length + 1) : 0)))]
    .sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...at, data.length]) {
    out.push(data.subarray(prev, c));
    prev = c;
  }
  return out;
}

/**
 * A negative check needs a window: waits `ms` so that something that must NOT happen had the
 * chance to. Used only where no event can tell that it did not happen.
 */
export function settle(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A server on 127.0.0.1, port 0, with its events recorded. */
export interface TestServer extends AsyncDisposable {
  server: Server;
  port: number;
  url: string;
  events: ServerEvent[];
  /** Events of one kind. */
  count(kind: ServerEvent["kind"]): number;
}

/** Starts a server on 127.0.0.1 (port 0) whose events land in `events`. */
export function startServer(
  handler: ServeOptions["handler"],
  o: Partial<Omit<ServeOptions, "handler">> = {},
): TestServer {
  const events: ServerEvent[] = [];
  const server = serve({
    hostname: "127.0.0.1",
    port: 0,
    handler,
    ...o,
    onEvent: (e) => {
      events.push(e);
      o.onEvent?.(e);
    },
  });
  return {
    server,
    port: server.addr.port,
    url: `http://127.0.0.1:${server.addr.port}`,
    events,
    count: (kind) => events.filter((e) => e.kind === kind).length,
    async [Symbol.asyncDispose]() {
      await server.shutdown(500);
    },
  };
}

/** A parsed HTTP response. */
export interface RawResponse {
  status: number;
  /** The head as sent (latin1), up to and including the blank line. */
  head: string;
  /** Header pairs, names lowercased, in order. */
  headers: [string, string][];
  /** The body, de-chunked if it was chunked. */
  body: Uint8Array;
  /** The body's raw bytes as they were on the wire. */
  wire: Uint8Array;
  /** A header's value (the first). */
  get(name: string): string | undefined;
  text(): string;
}

/**
 * A raw TCP client: writes exact bytes, collects what it reads, and waits on conditions over
 * that (woken by each read, bounded by a timeout).
 */
export class Peer implements AsyncDisposable {
  #chunks: Uint8Array[] = [];
  #buf: Uint8Array = new Uint8Array(0);
  /** True once the server closed (or reset) the connection. */
  eof = false;
  /** Set when the connection ended with an error (a reset) rather than a FIN. */
  error: string | undefined;
  #wake: (() => void) | undefined;
  #reading = true;
  #pause: (() => void) | undefined;
  #write: (b: Uint8Array) => Promise<void>;
  #close: () => void;
  #done: Promise<void>;

  private constructor(
    write: (b: Uint8Array) => Promise<void>,
    close: () => void,
    start: (peer: Peer) => Promise<void>,
  ) {
    this.#write = write;
    this.#close = close;
    this.#done = start(this);
  }

  /**
   * Connects to 127.0.0.1:`port`. `from` picks a source address (through node:net, as
   * Deno.connect cannot choose one); `read: false` never reads (a peer that stopped reading).
   */
  static async connect(
    port: number,
    o: { from?: string; read?: boolean } = {},
  ): Promise<Peer> {
    if (o.from) {
      const sock = net.connect({ host: "127.0.0.1", port, localAddress: o.from });
      await new Promise<void>((resolve, reject) => {
        sock.once("connect", resolve);
        sock.once("error", reject);
      });
      const peer: Peer = new Peer(
        (b) => new Promise((resolve, reject) => sock.write(b, (e) => (e ? reject(e) : resolve()))),
        () => sock.destroy(),
        (peer) =>
          new Promise<void>((resolve) => {
            if (o.read === false) sock.pause();
            sock.on("data", (d: Uint8Array) => peer.#push(new Uint8Array(d)));
            sock.on("error", (e: Error) => (peer.error = e.message));
            sock.on("close", () => {
              peer.#end();
              resolve();
            });
          }),
      );
      peer.#pause = () => sock.pause();
      return peer;
    }
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    let closed = false;
    return new Peer(
      async (b) => {
        let off = 0;
        while (off < b.length) off += await conn.write(b.subarray(off));
      },
      () => {
        if (closed) return;
        closed = true;
        try {
          conn.close();
        } catch { /* closed */ }
      },
      async (peer) => {
        if (o.read === false) return;
        const buf = new Uint8Array(64 * 1024);
        try {
          while (true) {
            const n = await conn.read(buf);
            if (n === null) break;
            peer.#push(buf.slice(0, n));
            if (!peer.#reading) return; // stopped: not an end
          }
        } catch (e) {
          if (!closed) peer.error = (e as Error).message;
        }
        peer.#end();
      },
    );
  }

  #push(b: Uint8Array): void {
    this.#chunks.push(b);
    this.#wake?.();
  }

  #end(): void {
    this.eof = true;
    this.#wake?.();
  }

  /** Everything read and not consumed yet. */
  get buffered(): Uint8Array {
    if (this.#chunks.length > 0) {
      this.#buf = concat(this.#buf, ...this.#chunks);
      this.#chunks = [];
    }
    return this.#buf;
  }

  /** What was read so far, as latin1 text. */
  text(): string {
    return latin1(this.buffered);
  }

  /** Drops the first `n` bytes read. */
  consume(n: number): Uint8Array {
    const b = this.buffered;
    const out = b.slice(0, n);
    this.#buf = b.subarray(n);
    return out;
  }

  /** Writes bytes (a string is taken as latin1). */
  async write(data: string | Uint8Array): Promise<void> {
    await this.#write(typeof data === "string" ? bytes(data) : data);
  }

  /**
   * Waits until `f(buffered)` returns something other than undefined/false and returns it;
   * throws if the connection ends first (unless `f` accepts it) or after `timeoutMs`.
   */
  async until<T>(
    f: (b: Uint8Array, eof: boolean) => T | undefined | false,
    what: string,
    timeoutMs = 5000,
  ): Promise<T> {
    const end = Date.now() + timeoutMs;
    while (true) {
      const v = f(this.buffered, this.eof);
      if (v !== undefined && v !== false) return v;
      if (this.eof) throw new Error(`Connection ended while waiting for ${what}: ${this.text()}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
  }

  /** Waits until the server closed the connection; returns what it sent before. */
  async closed(what = "the server to close", timeoutMs = 5000): Promise<string> {
    await this.until((_, eof) => eof, what, timeoutMs);
    return this.text();
  }

  /** Reads one response (a 1xx has no body); consumes it. */
  async response(timeoutMs = 5000): Promise<RawResponse> {
    const headEnd = await this.until(
      (b) => {
        const i = latin1(b).indexOf("\r\n\r\n");
        return i >= 0 ? i + 4 : undefined;
      },
      "a response head",
      timeoutMs,
    );
    const head = latin1(this.consume(headEnd));
    const lines = head.slice(0, -4).split("\r\n");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)?.[1]);
    if (!status) throw new Error(`Not a status line: ${lines[0]}`);
    const headers = lines.slice(1).map((l): [string, string] => {
      const i = l.indexOf(":");
      return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
    });
    const get = (n: string) => headers.find(([k]) => k === n)?.[1];
    let body: Uint8Array = new Uint8Array(0);
    let wire: Uint8Array = body;
    if (status >= 200 && status !== 204 && status !== 304) {
      if (get("transfer-encoding") === "chunked") {
        const r = await this.until((b) => dechunk(b), "a chunked body", timeoutMs);
        wire = this.consume(r.used);
        body = r.body;
      } else if (get("content-length") !== undefined) {
        const n = Number(get("content-length"));
        await this.until((b) => b.length >= n, `a body of ${n} bytes`, timeoutMs);
        body = wire = this.consume(n);
      } else {
        await this.until((_, eof) => eof, "the end of a body framed by close", timeoutMs);
        body = wire = this.consume(this.buffered.length);
      }
    }
    return { status, head, headers, body, wire, get, text: () => new TextDecoder().decode(body) };
  }

  /**
   * Stops reading from the socket (after the read in progress, of at most 64 KiB): a peer
   * that stopped reading, whose kernel buffers then fill up.
   */
  stopReading(): void {
    this.#reading = false;
    this.#pause?.();
  }

  /** Closes the connection (the client goes away). */
  close(): void {
    this.#close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#close();
    await this.#done;
  }
}

/** Decodes a complete chunked body at the start of `b`, or undefined if incomplete. */
export function dechunk(b: Uint8Array): { body: Uint8Array; used: number } | undefined {
  const parts: Uint8Array[] = [];
  let i = 0;
  while (true) {
    const t = latin1(b.subarray(i, i + 64));
    const eol = t.indexOf("\r\n");
    if (eol < 0) return undefined;
    const size = parseInt(t.slice(0, eol), 16);
    i += eol + 2;
    if (size === 0) {
      if (latin1(b.subarray(i, i + 2)) !== "\r\n") return undefined; // no trailers here
      return { body: concat(...parts), used: i + 2 };
    }
    if (b.length < i + size + 2) return undefined;
    parts.push(b.subarray(i, i + size));
    i += size + 2;
  }
}

/** A WebSocket key and the accept value RFC 6455 derives from it (its own example). */
export const WS_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
export const WS_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/** The head of a WebSocket upgrade request. */
export function upgradeHead(path = "/", extra = ""): string {
  return `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
}

/** Connects a raw peer and completes a WebSocket handshake. */
export async function rawWebSocket(
  port: number,
  o: { path?: string; read?: boolean; from?: string } = {},
): Promise<Peer> {
  const p = await Peer.connect(port, { from: o.from });
  await p.write(upgradeHead(o.path));
  const r = await p.response();
  if (r.status !== 101) throw new Error(`Upgrade answered ${r.status}`);
  if (r.get("sec-websocket-accept") !== WS_ACCEPT) throw new Error("Bad accept");
  return p;
}

/** Options of a hand-built client frame. */
export interface FrameOptions {
  fin?: boolean;
  /** RSV bits (0..7) set in the first byte. */
  rsv?: number;
  /** False: an unmasked frame (a protocol error from a client). */
  masked?: boolean;
  mask?: [number, number, number, number];
  /** Announce this length instead of the payload's (the payload is then whatever is given). */
  length?: number;
}

/** A client frame (masked unless told otherwise). */
export function frame(opcode: number, payload: Uint8Array | string, o: FrameOptions = {}) {
  const p = typeof payload === "string" ? enc.encode(payload) : payload;
  const len = o.length ?? p.length;
  const masked = o.masked ?? true;
  const head: number[] = [((o.fin ?? true) ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | opcode];
  const m = masked ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >>> 8, len & 0xff);
  else {
    const hi = Math.floor(len / 2 ** 32), lo = len >>> 0;
    head.push(m | 127, hi >>> 24, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff);
    head.push(lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff);
  }
  if (!masked) return concat(new Uint8Array(head), p);
  const mask = o.mask ?? [0x37, 0xfa, 0x21, 0x3d];
  const body = p.map((b, i) => b ^ mask[i & 3]!);
  return concat(new Uint8Array([...head, ...mask]), body);
}

/** A close frame's payload. */
export function closeBody(code: number, reason = ""): Uint8Array {
  return concat(new Uint8Array([code >>> 8, code & 0xff]), enc.encode(reason));
}

/** A server frame as read. */
export interface ServerFrame {
  fin: boolean;
  opcode: number;
  payload: Uint8Array;
}

/** Parses one unmasked server frame at the start of `b`, or undefined if incomplete. */
export function parseServerFrame(b: Uint8Array): { frame: ServerFrame; used: number } | undefined {
  if (b.length < 2) return undefined;
  if (b[1]! & 0x80) throw new Error("The server masked a frame");
  let len = b[1]! & 0x7f, off = 2;
  if (len === 126) {
    if (b.length < 4) return undefined;
    len = (b[2]! << 8) | b[3]!;
    off = 4;
  } else if (len === 127) {
    if (b.length < 10) return undefined;
    len = new DataView(b.buffer, b.byteOffset + 2, 8).getUint32(4) +
      new DataView(b.buffer, b.byteOffset + 2, 8).getUint32(0) * 2 ** 32;
    off = 10;
  }
  if (b.length < off + len) return undefined;
  return {
    frame: { fin: (b[0]! & 0x80) !== 0, opcode: b[0]! & 0x0f, payload: b.slice(off, off + len) },
    used: off + len,
  };
}

/** Reads the next server frame from a raw peer. */
export async function readFrame(p: Peer, timeoutMs = 5000): Promise<ServerFrame> {
  const r = await p.until((b) => parseServerFrame(b), "a WebSocket frame", timeoutMs);
  p.consume(r.used);
  return r.frame;
}

/** The code and reason of a close frame's payload. */
export function closeOf(f: ServerFrame): { code: number; reason: string } {
  if (f.opcode !== 0x8) throw new Error(`Expected a close frame, got opcode ${f.opcode}`);
  if (f.payload.length === 0) return { code: 1005, reason: "" };
  return {
    code: (f.payload[0]! << 8) | f.payload[1]!,
    reason: new TextDecoder().decode(f.payload.subarray(2)),
  };
}
