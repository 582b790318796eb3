/**
 * WebSocket framing (RFC 6455, section 5), server side, pure: a parser fed byte chunks of any
 * size, and the encoder of the server's (unmasked) frame headers.
 *
 * The parser checks a frame's length against the message limit as soon as the header is
 * complete, before a single payload byte is kept, and counts fragments of one message together:
 * a peer can make it hold at most `maxMessage` bytes plus one header. Extensions are never
 * negotiated, so any RSV bit is an error; client frames must be masked.
 *
 * @module
 */

/** Close codes of RFC 6455 used here. */
export const WS_CLOSE = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  noStatus: 1005,
  abnormal: 1006,
  invalidData: 1007,
  tooBig: 1009,
  internal: 1011,
} as const;

/** A violation of the framing rules; `tooBig` is set when only the size limit was exceeded. */
export class WsProtocolError extends Error {
  /** @param code the close code to answer with */
  constructor(readonly code: number, message: string, readonly tooBig = false) {
    super(message);
    this.name = "WsProtocolError";
  }
}

/** What the parser hands over. */
export interface WsSink {
  /** A complete data message. */
  message(data: Uint8Array, binary: boolean): void;
  /** A control frame (ping 0x9, pong 0xa, close 0x8) with its payload. */
  control(opcode: 0x8 | 0x9 | 0xa, payload: Uint8Array): void;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes a text message strictly (1007 on malformed UTF-8). */
export function decodeText(data: Uint8Array): string {
  try {
    return UTF8.decode(data);
  } catch {
    throw new WsProtocolError(WS_CLOSE.invalidData, "Text message is not UTF-8");
  }
}

function unmask(src: Uint8Array, dst: Uint8Array, mask: Uint8Array): void {
  const n = src.length;
  if (n >= 64 && dst.byteOffset % 4 === 0) {
    if (src !== dst) dst.set(src);
    const words = n >>> 2;
    const w = new Uint32Array(dst.buffer, dst.byteOffset, words);
    const m = new Uint32Array(mask.buffer, mask.byteOffset, 1)[0]!;
    for (let i = 0; i < words; i++) w[i]! ^= m;
    for (let i = words << 2; i < n; i++) dst[i]! ^= mask[i & 3]!;
    return;
  }
  for (let i = 0; i < n; i++) dst[i] = src[i]! ^ mask[i & 3]!;
}

/**
 * The frame parser of one connection.
 *
 * @example
 * ```ts
 * const p = new WsParser(1024, { message: (d) => console.log(d), control: () => {} });
 * p.push(bytesFromTheSocket);
 * ```
 */
export class WsParser {
  /** Largest data message accepted, in bytes; may be changed between pushes. */
  maxMessage: number;
  readonly #sink: WsSink;
  readonly #head = new Uint8Array(14);
  #headLen = 0;
  readonly #mask = new Uint8Array(4);
  #opcode = 0;
  #fin = false;
  #payload: Uint8Array | undefined;
  #filled = 0;
  #fragments: Uint8Array[] = [];
  #fragmentBytes = 0;
  #fragmentOpcode = 0;
  #closed = false; // a close frame came: nothing after it is parsed (RFC 6455 5.5.1)

  /** @param maxMessage largest data message, in bytes */
  constructor(maxMessage: number, sink: WsSink) {
    this.maxMessage = maxMessage;
    this.#sink = sink;
  }

  /** Bytes held for an incomplete message (bounded by maxMessage). */
  get buffered(): number {
    return this.#fragmentBytes + (this.#payload?.length ?? 0);
  }

  /**
   * Feeds bytes; throws WsProtocolError on the first violation (the connection must close).
   * Bytes after a close frame are ignored.
   */
  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length && !this.#closed) {
      if (this.#payload === undefined) {
        const need = this.#headNeed();
        const take = Math.min(need - this.#headLen, chunk.length - i);
        this.#head.set(chunk.subarray(i, i + take), this.#headLen);
        this.#headLen += take;
        i += take;
        // Refuse a bad first two bytes at once, not after mask bytes that may never come.
        if (this.#headLen === 2 && take > 0) this.#checkStart();
        if (this.#headLen < this.#headNeed()) continue; // the 2nd byte may have raised the need
        this.#startPayload();
        if (this.#payload!.length > 0) continue;
      } else {
        const p = this.#payload;
        const take = Math.min(p.length - this.#filled, chunk.length - i);
        const at = this.#filled;
        // Copy now (the chunk's buffer is reused for the next read) and unmask later in place.
        p.set(chunk.subarray(i, i + take), at);
        this.#filled += take;
        i += take;
        if (this.#filled < p.length) continue;
      }
      this.#endFrame();
    }
  }

  #headNeed(): number {
    if (this.#headLen < 2) return 2;
    const len7 = this.#head[1]! & 0x7f;
    return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + 4;
  }

  #checkStart(): void {
    if (this.#head[0]! & 0x70) throw new WsProtocolError(WS_CLOSE.protocolError, "RSV bits set");
    if (!(this.#head[1]! & 0x80)) {
      throw new WsProtocolError(WS_CLOSE.protocolError, "Unmasked client frame");
    }
  }

  #startPayload(): void {
    const h = this.#head;
    const b0 = h[0]!, b1 = h[1]!;
    this.#checkStart();
    const opcode = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    let len: number;
    let off = 2;
    if (len7 === 126) {
      len = (h[2]! << 8) | h[3]!;
      off = 4;
    } else if (len7 === 127) {
      const hi = ((h[2]! << 24) | (h[3]! << 16) | (h[4]! << 8) | h[5]!) >>> 0;
      const lo = ((h[6]! << 24) | (h[7]! << 16) | (h[8]! << 8) | h[9]!) >>> 0;
      if (hi & 0x80000000) throw new WsProtocolError(WS_CLOSE.protocolError, "Length MSB set");
      len = hi * 2 ** 32 + lo;
      off = 10;
    } else len = len7;
    this.#mask.set(h.subarray(off, off + 4));
    if (opcode >= 0x8) {
      if (opcode > 0xa) throw new WsProtocolError(WS_CLOSE.protocolError, `Opcode ${opcode}`);
      if (!fin || len > 125) {
        throw new WsProtocolError(WS_CLOSE.protocolError, "Fragmented or long control frame");
      }
    } else if (opcode === 0x0) {
      if (this.#fragmentOpcode === 0) {
        throw new WsProtocolError(WS_CLOSE.protocolError, "Continuation without a message");
      }
    } else if (opcode === 0x1 || opcode === 0x2) {
      if (this.#fragmentOpcode !== 0) {
        throw new WsProtocolError(WS_CLOSE.protocolError, "New message inside a fragmented one");
      }
    } else throw new WsProtocolError(WS_CLOSE.protocolError, `Opcode ${opcode}`);
    if (opcode < 0x8 && this.#fragmentBytes + len > this.maxMessage) {
      throw new WsProtocolError(
        WS_CLOSE.tooBig,
        `Message of ${this.#fragmentBytes + len} bytes exceeds ${this.maxMessage}`,
        true,
      );
    }
    this.#opcode = opcode;
    this.#fin = fin;
    this.#payload = new Uint8Array(len);
    this.#filled = 0;
  }

  #endFrame(): void {
    const p = this.#payload!;
    this.#payload = undefined;
    this.#headLen = 0;
    unmask(p, p, this.#mask);
    const op = this.#opcode;
    if (op === 0x8) this.#closed = true; // even bytes of the same chunk are not frames any more
    if (op >= 0x8) return this.#sink.control(op as 0x8 | 0x9 | 0xa, p);
    if (op !== 0x0 && this.#fin) return this.#sink.message(p, op === 0x2);
    if (op !== 0x0) this.#fragmentOpcode = op;
    this.#fragments.push(p);
    this.#fragmentBytes += p.length;
    if (!this.#fin) return;
    const whole = new Uint8Array(this.#fragmentBytes);
    let o = 0;
    for (const f of this.#fragments) {
      whole.set(f, o);
      o += f.length;
    }
    const binary = this.#fragmentOpcode === 0x2;
    this.#fragments = [];
    this.#fragmentBytes = 0;
    this.#fragmentOpcode = 0;
    this.#sink.message(whole, binary);
  }
}

/**
 * Writes the header of an unmasked server frame into `out` at `at`; returns its length (2, 4
 * or 10 bytes).
 */
export function writeFrameHeader(
  out: Uint8Array,
  at: number,
  opcode: number,
  length: number,
): number {
  out[at] = 0x80 | opcode;
  if (length < 126) {
    out[at + 1] = length;
    return 2;
  }
  if (length < 65536) {
    out[at + 1] = 126;
    out[at + 2] = length >>> 8;
    out[at + 3] = length & 0xff;
    return 4;
  }
  out[at + 1] = 127;
  const hi = Math.floor(length / 2 ** 32);
  const lo = length >>> 0;
  out[at + 2] = hi >>> 24;
  out[at + 3] = (hi >>> 16) & 0xff;
  out[at + 4] = (hi >>> 8) & 0xff;
  out[at + 5] = hi & 0xff;
  out[at + 6] = lo >>> 24;
  out[at + 7] = (lo >>> 16) & 0xff;
  out[at + 8] = (lo >>> 8) & 0xff;
  out[at + 9] = lo & 0xff;
  return 10;
}

/** The header length of a server frame with a payload of `length` bytes. */
export function frameHeaderLength(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

/** A close frame's payload: code (u16) ‖ reason (UTF-8, cut to fit 123 bytes). */
export function closePayload(code: number, reason: string): Uint8Array {
  let r = new TextEncoder().encode(reason);
  if (r.length > 123) {
    // Cut on a character boundary: a split UTF-8 sequence makes the peer fail the connection.
    let cut = 123;
    while (cut > 0 && (r[cut]! & 0xc0) === 0x80) cut--;
    r = r.subarray(0, cut);
  }
  const out = new Uint8Array(2 + r.length);
  out[0] = code >>> 8;
  out[1] = code & 0xff;
  out.set(r, 2);
  return out;
}

/** Parses a close frame's payload (RFC 6455 5.5.1); throws 1002 on a malformed one. */
export function parseClosePayload(p: Uint8Array): { code: number; reason: string } {
  if (p.length === 0) return { code: WS_CLOSE.noStatus, reason: "" };
  if (p.length === 1) throw new WsProtocolError(WS_CLOSE.protocolError, "Close payload of 1 byte");
  const code = (p[0]! << 8) | p[1]!;
  const valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
  if (!valid) throw new WsProtocolError(WS_CLOSE.protocolError, `Close code ${code}`);
  return { code, reason: decodeText(p.subarray(2)) };
}
