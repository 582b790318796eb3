/**
 * The types of websocket.ts (its transport, options and close causes), its timing and size
 * constants, and the batching of its send queue into writes.
 *
 * @module
 */

/** What a WebSocket needs of its connection. */
export interface WsTransport {
  /** Writes all of `bytes`; rejects if the connection fails. */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Closes the TCP connection: at once, or (`linger`) after shutting down the sending side and
   * reading and discarding what the peer still sends for a moment, so that it receives the
   * close frame instead of a reset.
   */
  close(linger?: boolean): void;
  /** Stops or resumes reading from the socket (backpressure). */
  setPaused(paused: boolean): void;
  /** Marks the connection trusted (not evicted at the connection cap). */
  trust(): void;
  /** Reports an exception thrown by an application callback. */
  report(e: unknown): void;
}

/** Why a WebSocket ended, as the server saw it. */
export type WsCloseCause =
  | "closed" // a close handshake (either side)
  | "eof" // the peer went away without one
  | "protocol" // the peer broke the framing rules
  | "too_big" // a message over maxMessage
  | "idle" // no pong within the idle timeout
  | "write_timeout" // a write made no progress within the write timeout
  | "evicted" // the connection cap made room for a newcomer
  | "error" // an application callback threw
  | "terminated"; // the owner dropped it

/** Options of a WebSocket. */
export interface WsOptions {
  /** Largest incoming data message, in bytes (default 64 KiB). */
  maxMessage?: number;
  /** Close code and reason used when a message exceeds maxMessage (default 1009). */
  tooBig?: { code: number; reason: string };
  /** Idle time after which the server pings, and closes if nothing answers (s; 0: never). */
  idleTimeoutSeconds?: number;
}

/** The most bytes one write takes; larger queues leave in several writes. */
export const MAX_WRITE = 1 << 20;
/** Time the closing side waits for the peer's close frame before dropping the connection. */
export const CLOSE_WAIT_MS = 2000;

/**
 * Takes the next write off a send queue: its first parts, up to MAX_WRITE bytes in all (at least
 * one part), joined into one buffer; `n` is its length.
 */
export function takeWrite(queue: Uint8Array[]): { out: Uint8Array; n: number } {
  let n = 0, count = 0;
  for (const part of queue) {
    if (count > 0 && n + part.length > MAX_WRITE) break;
    n += part.length;
    count++;
  }
  const parts = queue.splice(0, count);
  let out: Uint8Array;
  if (count === 1) out = parts[0]!;
  else {
    out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
  }
  return { out, n };
}
