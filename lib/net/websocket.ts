/**
 * The server side of one WebSocket (RFC 6455) over a connection of server.ts.
 *
 * Why not `Deno.upgradeWebSocket`: it buffers every incoming message whole, up to 64 MiB, before
 * the application sees a byte, and it offers no limit to lower that. Here the largest message is
 * a property the owner changes as its protocol advances (160 bytes before a login, a record after
 * it), and a frame over it closes the connection when its header arrives, before any payload is
 * kept. Sends are coalesced: frames queued in one turn leave in one write.
 *
 * @module
 */
import {
  closePayload,
  decodeText,
  frameHeaderLength,
  parseClosePayload,
  writeFrameHeader,
  WS_CLOSE,
  WsParser,
  WsProtocolError,
} from "./_ws_frames.ts";
import {
  CLOSE_WAIT_MS,
  takeWrite,
  type WsCloseCause,
  type WsOptions,
  type WsTransport,
} from "./_ws_types.ts";

export { WS_CLOSE } from "./_ws_frames.ts";
export type { WsCloseCause, WsOptions, WsTransport } from "./_ws_types.ts";

/**
 * One server-side WebSocket. `readyState` follows the browser's numbers (1 open, 2 closing,
 * 3 closed). Messages are `Uint8Array`s with a flag telling binary from text.
 */
export class ServerWebSocket {
  /** Called for every complete data message. */
  onmessage: ((data: Uint8Array, binary: boolean) => void) | undefined;
  /** Called once when the connection is gone, with the close code and reason (or 1006). */
  onclose: ((code: number, reason: string, cause: WsCloseCause) => void) | undefined;
  /** 1 open, 2 closing, 3 closed. */
  readyState: 1 | 2 | 3 = 1;
  /** Close code to use when a message exceeds maxMessage. */
  tooBig: { code: number; reason: string };
  readonly #t: WsTransport;
  readonly #parser: WsParser;
  readonly #idleMs: number;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #writing = false;
  #writeStarted = 0;
  #lastReceived: number;
  #pingAt = 0;
  #closeDeadline = Infinity;
  #closeInfo: { code: number; reason: string; cause: WsCloseCause } | undefined;
  #paused = false;
  #reported = false;
  #lastProgress: number;
  /** Messages parsed but not handed over yet (paused, or handed over one by one). */
  #inbox: [Uint8Array, boolean][] = [];
  #draining = false;
  /** Writes wait until the server has written the 101 response. */
  #started = false;

  /** Made by upgradeWebSocket (server.ts); not constructed by applications. */
  constructor(transport: WsTransport, o: WsOptions, now: number) {
    this.#t = transport;
    this.tooBig = o.tooBig ?? { code: WS_CLOSE.tooBig, reason: "message too big" };
    this.#idleMs = (o.idleTimeoutSeconds ?? 60) * 1000;
    this.#lastReceived = now;
    this.#lastProgress = now;
    this.#parser = new WsParser(o.maxMessage ?? 65536, {
      message: (d, binary) => {
        if (!binary) decodeText(d); // text must be UTF-8 (1007 otherwise)
        this.#inbox.push([d, binary]);
      },
      control: (op, p) => this.#control(op, p),
    });
  }

  /** From the server: the 101 response is written; queued frames may go. */
  started(): void {
    this.#started = true;
    if (this.#queue.length > 0 && !this.#writing) {
      this.#writing = true;
      queueMicrotask(() => void this.#flush());
    }
  }

  /** Largest incoming data message, in bytes; takes effect for the next frame. */
  get maxMessage(): number {
    return this.#parser.maxMessage;
  }
  set maxMessage(n: number) {
    this.#parser.maxMessage = n;
  }

  /** Bytes queued for the peer and not yet written to the socket. */
  get bufferedAmount(): number {
    return this.#queued;
  }

  /** Bytes held for an incomplete incoming message. */
  get receiving(): number {
    return this.#parser.buffered;
  }

  /**
   * When the peer last took data: the end of the last write, or when the queue last went from
   * empty to non-empty. Unchanged for long while bytes are queued means the peer stopped reading.
   */
  get lastProgress(): number {
    return this.#lastProgress;
  }

  /** Marks the connection trusted (a login succeeded): it is no longer evicted at the cap. */
  trust(): void {
    this.#t.trust();
  }

  /** Stops reading the peer's messages (they wait in the kernel), or resumes. */
  set paused(p: boolean) {
    if (this.#paused === p) return;
    this.#paused = p;
    this.#t.setPaused(p);
    if (!p) this.#drain();
  }
  get paused(): boolean {
    return this.#paused;
  }

  /** Queues a binary message. Ignored once closing. */
  send(data: Uint8Array): void {
    if (this.readyState !== 1) return;
    this.#enqueue(0x2, [data]);
  }

  /**
   * Queues one binary message made of `parts` in order (a sealed record's ciphertext and tag),
   * joined once with the frame header instead of first into a message. Ignored once closing.
   */
  sendParts(parts: readonly Uint8Array[]): void {
    if (this.readyState !== 1) return;
    this.#enqueue(0x2, parts);
  }

  /** Starts the closing handshake: a close frame after everything queued, then the close. */
  close(code: number = WS_CLOSE.normal, reason = ""): void {
    if (this.readyState !== 1) return;
    this.readyState = 2;
    this.#closeInfo = { code, reason, cause: "closed" };
    this.#enqueue(0x8, [closePayload(code, reason)]);
    this.#closeDeadline = Date.now() + CLOSE_WAIT_MS;
  }

  /** Drops the connection at once, without a closing handshake. */
  terminate(cause: WsCloseCause = "terminated"): void {
    if (this.readyState === 3) return;
    this.#closeInfo ??= { code: WS_CLOSE.abnormal, reason: "", cause };
    this.#t.close();
  }

  /**
   * Queues one frame as a single buffer: header and payload joined here, so that a write of one
   * frame needs no further copy. Every typed-array allocation costs ~0.5-2 µs under Deno here,
   * whatever its size, so the header is not a buffer of its own.
   */
  #enqueue(opcode: number, parts: readonly Uint8Array[]): void {
    let len = 0;
    for (const p of parts) len += p.length;
    const hlen = frameHeaderLength(len);
    const frame = new Uint8Array(hlen + len);
    writeFrameHeader(frame, 0, opcode, len);
    let o = hlen;
    for (const p of parts) {
      frame.set(p, o);
      o += p.length;
    }
    if (this.#queued === 0 && !this.#writing) this.#lastProgress = Date.now();
    this.#queue.push(frame);
    this.#queued += frame.length;
    if (!this.#writing && this.#started) {
      this.#writing = true;
      queueMicrotask(() => void this.#flush());
    }
  }

  async #flush(): Promise<void> {
    try {
      while (this.#queue.length > 0 && this.readyState !== 3) {
        const { out, n } = takeWrite(this.#queue);
        this.#writeStarted = Date.now();
        await this.#t.write(out);
        this.#writeStarted = 0;
        this.#queued -= n;
        this.#lastProgress = Date.now();
      }
    } catch {
      this.terminate("eof");
    } finally {
      this.#writing = false;
    }
    // Both close frames are out (or the peer broke the rules): drop the connection.
    if (this.readyState === 2 && this.#peerClosed) this.#t.close(this.#violated);
  }

  #peerClosed = false;
  #violated = false; // the peer broke the rules: close with a linger (see WsTransport.close)

  #control(op: 0x8 | 0x9 | 0xa, p: Uint8Array): void {
    if (op === 0x9) {
      if (this.readyState === 1) this.#enqueue(0xa, [p]);
      return;
    }
    if (op === 0xa) return; // any frame counts as life (see receive)
    this.#peerClosed = true;
    const { code, reason } = parseClosePayload(p);
    if (this.readyState === 1) {
      // The peer closes: answer with its code, then drop the connection once written.
      this.readyState = 2;
      this.#closeInfo = { code, reason, cause: "closed" };
      const echo = code === WS_CLOSE.noStatus ? new Uint8Array() : closePayload(code, reason);
      this.#enqueue(0x8, [echo]);
      this.#closeDeadline = Date.now() + CLOSE_WAIT_MS;
    } else if (!this.#writing) this.#t.close(); // the answer to our close: done
  }

  /** From the connection: bytes read from the socket. */
  receive(bytes: Uint8Array, now: number): void {
    if (this.readyState === 3) return;
    this.#lastReceived = now;
    this.#pingAt = 0;
    if (this.#peerClosed) return; // nothing may follow a close frame
    try {
      this.#parser.push(bytes);
    } catch (e) {
      this.#drain(); // what came before the violation is still handed over
      if (!(e instanceof WsProtocolError)) throw e;
      const code = e.tooBig ? this.tooBig.code : e.code;
      const reason = e.tooBig ? this.tooBig.reason : e.message;
      this.#closeInfo = { code, reason, cause: e.tooBig ? "too_big" : "protocol" };
      // A peer that breaks the rules is not waited for: the close frame, then the connection.
      if (this.readyState === 1) {
        this.readyState = 2;
        this.#enqueue(0x8, [closePayload(code, reason)]);
      }
      this.#peerClosed = true;
      this.#violated = true;
      this.#closeDeadline = now + CLOSE_WAIT_MS;
      if (!this.#writing) this.#t.close(true);
      return;
    }
    this.#drain();
  }

  /** Hands parsed messages to onmessage, one by one, stopping as soon as it pauses. */
  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (this.#inbox.length > 0 && !this.#paused && this.readyState !== 3) {
        const [d, binary] = this.#inbox.shift()!;
        try {
          this.onmessage?.(d, binary);
        } catch (e) {
          // An application bug must not leave the socket unread and silent: report, close.
          this.#t.report(e);
          this.#inbox = [];
          this.#closeInfo = { code: WS_CLOSE.internal, reason: "internal error", cause: "error" };
          if (this.readyState === 1) {
            this.readyState = 2;
            this.#enqueue(0x8, [closePayload(WS_CLOSE.internal, "internal error")]);
          }
          this.#peerClosed = true;
          this.#closeDeadline = Date.now() + CLOSE_WAIT_MS;
          return;
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  /** Messages parsed and waiting (while paused). */
  get held(): number {
    return this.#inbox.length;
  }

  /** From the connection's timer: pings, the idle timeout, stalled writes and close waits. */
  tick(now: number, writeTimeoutMs: number): void {
    if (this.readyState === 3) return;
    if (now >= this.#closeDeadline) return this.terminate("closed");
    if (this.#writeStarted > 0 && now - this.#writeStarted > writeTimeoutMs) {
      return this.terminate("write_timeout");
    }
    if (this.#idleMs <= 0 || this.readyState !== 1) return;
    if (this.#pingAt > 0 && now - this.#pingAt > this.#idleMs) return this.terminate("idle");
    if (this.#pingAt === 0 && now - this.#lastReceived > this.#idleMs && !this.#paused) {
      this.#pingAt = now;
      this.#enqueue(0x9, []);
    }
  }

  /** From the connection: the TCP connection is gone (`evicted`: to make room for another). */
  transportClosed(evicted = false): void {
    if (evicted) this.#closeInfo ??= { code: WS_CLOSE.abnormal, reason: "", cause: "evicted" };
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.#queue = [];
    this.#queued = 0;
    const info = this.#closeInfo ?? { code: WS_CLOSE.abnormal, reason: "", cause: "eof" as const };
    if (this.#reported) return;
    this.#reported = true;
    try {
      this.onclose?.(info.code, info.reason, info.cause);
    } catch (e) {
      this.#t.report(e);
    }
  }
}
