/**
 * One HTTP/1.1 exchange on a connection: reading a request head, the request body as a stream,
 * and writing the response (whole, or streamed with the chunked coding).
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
import { concat, type ConnIO, copyOf, MAX_READ_BUFFER } from "./_io.ts";

/** A phase of a connection, each with its own deadline. */
export type Phase = "head" | "idle" | "request" | "write";

/** What an exchange needs of its connection besides the bytes. */
export interface ExchangeHost {
  io: ConnIO;
  limits: {
    headTimeoutMs: number;
    keepAliveTimeoutMs: number;
    writeTimeoutMs: number;
    maxHeadBytes: number;
    maxBodyBytes: number;
  };
  /** Sets the deadline of a phase (`Infinity`: none). */
  deadline(phase: Phase, ms: number): void;
  /** The phase whose deadline runs. */
  readonly phase: Phase;
}

/** Responses of these types are streamed chunk by chunk; others are sent whole. */
const STREAMING = /^(text\/event-stream|application\/x-ndjson)\b/i;
/** Responses marked to be streamed whatever their type (a large download). */
const STREAMED = new WeakSet<Response>();

/**
 * Marks `res` to be streamed chunk by chunk (chunked, no Content-Length) rather than read whole
 * and sent: for a body too large to hold in memory, such as a file download.
 */
export function streamed(res: Response): Response {
  STREAMED.add(res);
  return res;
}
const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");
const enc = new TextEncoder();

/**
 * Reads the next request head; null when the connection ends cleanly between requests. The
 * deadline runs from now for the first head (`first`), else from the head's first byte after a
 * keep-alive wait of its own.
 */
export async function readHead(h: ExchangeHost, first: boolean): Promise<RequestHead | null> {
  const { io, limits: l } = h;
  let scanned = 0;
  h.deadline(first ? "head" : "idle", first ? l.headTimeoutMs : l.keepAliveTimeoutMs);
  while (true) {
    // Empty lines before a request line are ignored (RFC 9112, 2.2).
    let skip = 0;
    while (skip + 1 < io.len && io.buf[skip] === 0x0d && io.buf[skip + 1] === 0x0a) skip += 2;
    if (skip > 0) {
      io.consume(skip);
      scanned = 0;
    }
    if (io.len > 0 && h.phase === "idle") h.deadline("head", l.headTimeoutMs);
    const end = findHeadEnd(io.buf, io.len, Math.max(0, scanned - 3));
    if (end > l.maxHeadBytes || (end < 0 && io.len >= l.maxHeadBytes)) {
      throw new HttpError(431, `Request head exceeds ${l.maxHeadBytes} bytes`);
    }
    if (end >= 0) {
      const head = parseRequestHead(io.buf.subarray(0, end));
      io.consume(end);
      return head;
    }
    scanned = io.len;
    if (!await io.fill(l.maxHeadBytes)) {
      if (io.len > 0) throw new HttpError(400, "Connection closed in the middle of a head");
      return null;
    }
  }
}

/** A request body: a stream, or its bytes when they came with the head; how its reading went. */
export interface Body {
  stream: ReadableStream<Uint8Array> | null;
  /** The whole body, when it had arrived with its head (then `stream` is null). */
  bytes?: Uint8Array;
  /** True once the whole body was read (the connection may carry another request). */
  done(): boolean;
  /** Why the body failed (over the limit, malformed, cut short), if it did. */
  error(): HttpError | undefined;
}

/**
 * The body of `head` as a stream that reads the connection only when pulled (so `100 Continue`
 * is sent only when the handler reads). Chunks are copies, never views of the read buffer.
 */
export function bodyStream(h: ExchangeHost, head: RequestHead): Body {
  if (head.body.kind === "none") {
    return { stream: null, done: () => true, error: () => undefined };
  }
  const io = h.io;
  // Arrived with the head (a small POST mostly does): handed over as bytes, no stream to make
  // and pull (a stream, its controller, reader and promises cost more than the copy). Nothing is
  // read that was not already, and nothing waits for `100 Continue`.
  if (head.body.kind === "length" && !head.expectContinue && io.len >= head.body.length) {
    const bytes = io.buf.slice(0, head.body.length);
    io.consume(head.body.length);
    return { stream: null, bytes, done: () => true, error: () => undefined };
  }
  let failed: HttpError | undefined;
  const fail = (ctl: ReadableStreamDefaultController<Uint8Array>, e: unknown) => {
    failed = e instanceof HttpError ? e : new HttpError(400, String(e));
    ctl.error(failed);
  };
  let continued = !head.expectContinue;
  let finished = false;
  let left = head.body.kind === "length" ? head.body.length : 0;
  const chunked = head.body.kind === "chunked"
    ? new ChunkedDecoder(h.limits.maxBodyBytes)
    : undefined;
  const stream = new ReadableStream<Uint8Array>({
    pull: async (ctl) => {
      if (!continued) {
        continued = true;
        await io.write(CONTINUE);
      }
      while (true) {
        if (io.len === 0 && !await io.fill(MAX_READ_BUFFER)) {
          fail(ctl, new HttpError(400, "Connection closed in the middle of a body"));
          return;
        }
        if (!chunked) {
          const n = Math.min(left, io.len);
          ctl.enqueue(io.buf.slice(0, n));
          io.consume(n);
          left -= n;
          if (left === 0) {
            finished = true;
            ctl.close();
          }
          return;
        }
        let step;
        try {
          step = chunked.push(io.buf.subarray(0, io.len));
        } catch (e) {
          fail(ctl, e);
          return;
        }
        const total = step.data.reduce((n, d) => n + d.length, 0);
        // A copy: the data are views into the read buffer, which the next read reuses.
        if (total > 0) ctl.enqueue(copyOf(step.data, total));
        io.consume(step.consumed);
        if (step.done) {
          finished = true;
          ctl.close();
          return;
        }
        if (total > 0) return;
      }
    },
    // highWaterMark 0: nothing is pulled (and no 100 Continue sent) before the handler reads.
  }, { highWaterMark: 0 });
  return { stream, done: () => finished, error: () => failed };
}

/**
 * Writes `res` for `head`; `keep` says whether the connection stays open after it (announced
 * with `connection: close` otherwise). Resolves false when the client went away meanwhile.
 */
export async function respond(
  h: ExchangeHost,
  head: RequestHead,
  res: Response,
  keep: boolean,
): Promise<boolean> {
  const { io, limits: l } = h;
  const isHead = head.method === "HEAD";
  // `res.body` is looked at only for what streams: reading it turns a static body (a string, the
  // usual JSON answer) into a stream, which arrayBuffer() would then have to drain.
  const streaming = (STREAMED.has(res) || STREAMING.test(res.headers.get("content-type") ?? "")) &&
    res.body !== null;
  if (!streaming) {
    // HEAD: the length GET would have (RFC 9110 8.6), without the body.
    const body = new Uint8Array(await res.arrayBuffer()); // empty for a null body
    const declared = res.headers.get("content-length");
    const length = isHead && body.length === 0 && declared ? Number(declared) : body.length;
    const text = encodeResponseHead(res.status, res.headers, { length, keepAlive: keep });
    h.deadline("write", l.writeTimeoutMs);
    await io.write(isHead ? enc.encode(text) : concat(enc.encode(text), body));
    return true;
  }
  if (isHead) {
    await res.body!.cancel().catch(() => {});
    const text = encodeResponseHead(res.status, res.headers, { chunked: true, keepAlive: keep });
    h.deadline("write", l.writeTimeoutMs);
    await io.write(enc.encode(text));
    return true;
  }
  const chunked = head.minor === 1;
  h.deadline("write", l.writeTimeoutMs);
  await io.write(enc.encode(encodeResponseHead(res.status, res.headers, {
    chunked,
    keepAlive: keep && chunked,
    raw: !chunked,
  })));
  const reader = res.body!.getReader();
  // While streaming, a read watches for the client going away.
  let gone = false;
  void io.fill(MAX_READ_BUFFER).then((more) => {
    if (!more) {
      gone = true;
      reader.cancel().catch(() => {});
    }
  }, () => {});
  try {
    while (true) {
      h.deadline("write", Infinity); // waiting for the next event is not a timeout
      const { done, value } = await reader.read();
      if (done || gone) break;
      if (value.length === 0) continue;
      h.deadline("write", l.writeTimeoutMs);
      await io.write(
        chunked
          ? concat(enc.encode(`${value.length.toString(16)}\r\n`), value, enc.encode("\r\n"))
          : value,
      );
    }
    if (gone) return false;
    if (chunked) await io.write(enc.encode("0\r\n\r\n"));
    return chunked;
  } catch (e) {
    await reader.cancel().catch(() => {});
    throw e;
  }
}
