/**
 * The bytes of one connection: a read buffer that grows on demand (up to a limit per call), and
 * whole writes. One read is in flight at a time; a second `fill` joins the first.
 *
 * @module
 */
import { HttpError } from "./http1.ts";

/** The read buffer of a fresh connection (idle connections keep this size). */
export const INITIAL_BUFFER = 4096;
/**
 * The read buffer of an upgraded WebSocket: an idle session keeps only this (its messages wait
 * in the kernel's socket buffer, not here), and a busy one grows it by doubling. Why 1 KiB: the
 * relay holds thousands of idle sessions, and 4 KiB each was an eighth of a session's memory;
 * a login's messages (≤ 160 bytes) and a chat-sized record fit in one or two reads.
 */
export const WS_IDLE_BUFFER = 1024;
/** The most one read takes. */
export const MAX_READ_BUFFER = 64 * 1024;

/** Reads and writes one connection. */
export class ConnIO {
  /** Bytes read and not consumed: `buf[0..len)`. */
  buf = new Uint8Array(INITIAL_BUFFER);
  len = 0;
  /** True once the peer closed its side (or the read failed). */
  eof = false;
  #fillP: Promise<boolean> | undefined;

  /** @param conn the connection; @param isClosed true once the owner closed it */
  constructor(readonly conn: Deno.Conn, readonly isClosed: () => boolean) {}

  /** Reads more bytes into the buffer (growing it up to `max`); false at end of stream. */
  fill(max: number): Promise<boolean> {
    return this.#fillP ??= this.#doFill(max).finally(() => (this.#fillP = undefined));
  }

  async #doFill(max: number): Promise<boolean> {
    if (this.eof || this.isClosed()) return false;
    if (this.len === this.buf.length) {
      const cap = Math.min(Math.max(max, INITIAL_BUFFER), this.buf.length * 2);
      if (cap <= this.buf.length) throw new HttpError(431, "Request head too large");
      const nb = new Uint8Array(cap);
      nb.set(this.buf.subarray(0, this.len));
      this.buf = nb;
    }
    let n: number | null;
    try {
      n = await this.conn.read(this.buf.subarray(this.len));
    } catch {
      n = null;
    }
    if (n === null) {
      this.eof = true;
      return false;
    }
    this.len += n;
    return true;
  }

  /** Drops the first `n` buffered bytes. */
  consume(n: number): void {
    this.buf.copyWithin(0, n, this.len);
    this.len -= n;
  }

  /** Writes all of `bytes`; throws once the connection is closed. */
  async write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      if (this.isClosed()) throw new Deno.errors.BrokenPipe("connection closed");
      off += await this.conn.write(bytes.subarray(off));
    }
  }
}

/** One buffer holding `parts` in order (`parts[0]` itself when there is one). */
export function concat(...parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  return copyOf(parts, parts.reduce((n, p) => n + p.length, 0));
}

/** A fresh copy of `parts` (`total` bytes in all), never a view of them. */
export function copyOf(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
