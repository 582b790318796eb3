/**
 * The daemon's end of one link to the relay: the XK handshake and login, then frames.
 *
 * Uses npm `ws`, which sets TCP_NODELAY on its socket (Deno's built-in WebSocket client leaves
 * Nagle on, which measured +40 ms at p99 here). One LinkClient is one connection; reconnecting
 * is the caller's job (relay_client.ts).
 *
 * @example
 * ```ts
 * const link = await LinkClient.connect({ address, identity, linkKey });
 * const r = await link.send(peerId, envelope); // { status: "delivered", code: null }
 * ```
 * @module
 */
import WebSocket from "ws";
import { parseRelayAddress, type RelayAddress } from "../protocol/address.ts";
import { Channel } from "../protocol/channel.ts";
import { type DhKeyPair, type SigningKeyPair } from "../protocol/_crypto.ts";
import { LINK_VERSIONS, MAX_WIRE_MESSAGE } from "../protocol/constants.ts";
import { codeFromNumber, type ErrorCode, ProtocolError } from "../protocol/errors.ts";
import { encodeFrame, type Frame, type SendStatus } from "../protocol/frames.ts";
import { LinkInitiator } from "../protocol/link_handshake.ts";
import { TokenBucket } from "../protocol/token_bucket.ts";

/** How a link ended. */
export interface LinkClosed {
  /** The error code (from an ERROR frame or the close code), or null for a clean close. */
  code: ErrorCode | null;
  /** Human-readable detail. */
  reason: string;
}

/** Options of a link. */
export interface LinkClientOptions {
  /** The relay address (string or parsed). */
  address: string | RelayAddress;
  /** The Ed25519 identity that logs in. */
  identity: SigningKeyPair;
  /** The static X25519 key of this daemon's link. */
  linkKey: DhKeyPair;
  /** Called for every DELIVER frame, in order. */
  onDeliver?: (from: Uint8Array, envelope: Uint8Array) => void;
  /** Called for every PRESENCE frame. */
  onPresence?: (id: Uint8Array, online: boolean) => void;
  /** Handshake time limit in ms (default 10 s). */
  timeoutMs?: number;
  /** Local address to connect from (tests play clients from 127.0.0.2, 127.0.1.x …). */
  localAddress?: string;
  /** Link versions to offer (default LINK_VERSIONS; tests play daemons of earlier releases). */
  versions?: readonly number[];
}

/** The WELCOME the relay sent. */
export type Welcome = Extract<Frame, { type: "welcome" }>;

/** The relay's answer to one SEND. */
export interface SendResult {
  status: SendStatus;
  code: ErrorCode | null;
}

const DELIVERED: SendResult = Object.freeze({ status: "delivered", code: null });
const BUSY: SendResult = Object.freeze({ status: "rejected", code: "busy" });

/**
 * How much one link may hold before SENDs are refused as `busy`: frames waiting for the relay's
 * frame rate (a second's worth at the default 5,000/s, paced at 90 %), or bytes in all (waiting,
 * in the record layer and in the socket; the relay's own queue per session is 8 MiB). Why: a
 * caller that sends faster than the relay takes would otherwise grow this queue without end
 * (1.3 GiB was seen); now it learns at once and retries later.
 */
export const LINK_QUEUE_LIMITS = { frames: 4500, bytes: 8 * 1024 * 1024 } as const;

/** One authenticated link. */
export class LinkClient {
  readonly #ws: WebSocket;
  readonly #channel: Channel;
  readonly #o: LinkClientOptions;
  readonly #pending = new Map<number, (r: SendResult) => void>();
  #seq = 0;
  #bucket: TokenBucket | undefined;
  #paced: Uint8Array[] = [];
  #pacedBytes = 0;
  #pumpTimer: ReturnType<typeof setTimeout> | undefined;
  #closedInfo: LinkClosed | undefined;
  #lastError: LinkClosed | undefined;
  #closedWaiters: ((c: LinkClosed) => void)[] = [];
  /** The WELCOME frame. */
  welcome!: Welcome;

  private constructor(
    ws: WebSocket,
    channelFactory: (c: LinkClient) => Channel,
    o: LinkClientOptions,
    /** The negotiated link version (1 or 2). */
    readonly version: number,
  ) {
    this.#ws = ws;
    this.#o = o;
    this.#channel = channelFactory(this);
  }

  /** Connects, runs the handshake, and resolves after the relay's WELCOME. */
  static connect(o: LinkClientOptions): Promise<LinkClient> {
    const addr = typeof o.address === "string" ? parseRelayAddress(o.address) : o.address;
    const ws = new WebSocket(addr.url, {
      perMessageDeflate: false,
      maxPayload: MAX_WIRE_MESSAGE,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    });
    ws.binaryType = "nodebuffer";
    const init = new LinkInitiator(addr.key, o.linkKey, o.identity, o.versions ?? LINK_VERSIONS);
    return new Promise<LinkClient>((resolve, reject) => {
      let link: LinkClient | undefined;
      let step = 0;
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          ws.terminate();
        } catch { /* closed */ }
        reject(e);
      };
      const timer = setTimeout(
        () => fail(new ProtocolError("handshake_timeout", "Relay handshake timed out")),
        o.timeoutMs ?? 10_000,
      );
      ws.on("open", () => {
        init.start().then((m1) => ws.send(m1), fail);
      });
      ws.on(
        "error",
        (e: Error) => fail(new ProtocolError("internal", `Cannot reach relay: ${e.message}`)),
      );
      ws.on("close", (code: number, reason: Buffer) => {
        const info: LinkClosed = (link ? link.#lastError : undefined) ?? {
          code: code >= 4000 ? codeFromNumber(code - 4000) : null,
          reason: reason.toString() || `closed (${code})`,
        };
        if (!settled) {
          fail(
            new ProtocolError(info.code ?? "auth_failed", `Relay closed the link: ${info.reason}`),
          );
        }
        if (link) link.#onClosed(info);
      });
      ws.on("message", (data: Buffer, isBinary: boolean) => {
        if (!isBinary) return fail(new ProtocolError("bad_frame", "Relay sent text"));
        const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        if (step === 0) {
          step = 1;
          init.finish(bytes).then(({ msg3, keys }) => {
            ws.send(msg3);
            link = new LinkClient(
              ws,
              (self) =>
                new Channel({
                  send: keys.send,
                  recv: keys.recv,
                  peer: "relay",
                  version: keys.version,
                  write: (r) => ws.send(r),
                  onFrames: (frames) => {
                    for (const f of frames) {
                      if (!settled && f.type === "welcome") {
                        self.welcome = f;
                        // Pace ourselves a little under the relay's frame rate, which it enforces
                        // by closing the link.
                        const rate = Math.max(1, Math.floor(f.framesPerSecond * 0.9));
                        self.#bucket = new TokenBucket(rate, rate, Date.now());
                        settled = true;
                        clearTimeout(timer);
                        resolve(self);
                      } else self.#onFrame(f);
                    }
                  },
                  onError: (e) => {
                    self.#lastError = { code: e.code, reason: e.message };
                    ws.terminate();
                  },
                }),
              o,
              keys.version,
            );
          }, fail);
        } else if (link) {
          link.#channel.receive(bytes);
        } else {
          fail(new ProtocolError("auth_failed", "Unexpected message during handshake"));
        }
      });
    });
  }

  /** This daemon's id, as the relay derived it. */
  get id(): Uint8Array {
    return this.welcome.id;
  }

  /** SENDs for which no RESULT came yet. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Bytes queued in the record layer and the socket. */
  get queuedBytes(): number {
    return this.#channel.queuedBytes + this.#ws.bufferedAmount;
  }

  #onFrame(f: Frame): void {
    switch (f.type) {
      case "deliver":
        this.#o.onDeliver?.(f.from, f.envelope);
        break;
      case "result": {
        const r = this.#pending.get(f.seq);
        if (r) {
          this.#pending.delete(f.seq);
          r({ status: f.status, code: f.code });
        }
        break;
      }
      case "ack":
        this.#ack(f.upto);
        break;
      case "presence":
        this.#o.onPresence?.(f.id, f.online);
        break;
      case "error":
        this.#lastError = { code: f.code, reason: f.reason };
        break;
    }
  }

  /**
   * Version 2: every SEND up to `upto` that got no RESULT was delivered. Pending SENDs are in
   * seq order (the map keeps insertion order); seqs wrap at 2^32, so "up to" is a distance.
   */
  #ack(upto: number): void {
    for (const [seq, r] of this.#pending) {
      if (((upto - seq) >>> 0) >= 2 ** 31) break; // after upto
      this.#pending.delete(seq);
      r(DELIVERED);
    }
  }

  #onClosed(info: LinkClosed): void {
    if (this.#closedInfo) return;
    this.#closedInfo = info;
    clearTimeout(this.#pumpTimer);
    this.#paced = [];
    this.#pacedBytes = 0;
    this.#channel.close();
    for (const r of this.#pending.values()) r({ status: "rejected", code: "internal" });
    this.#pending.clear();
    for (const w of this.#closedWaiters) w(info);
    this.#closedWaiters = [];
  }

  /** Resolves when the link is closed, with why. */
  closed(): Promise<LinkClosed> {
    if (this.#closedInfo) return Promise.resolve(this.#closedInfo);
    return new Promise((r) => this.#closedWaiters.push(r));
  }

  /** True once closed. */
  get isClosed(): boolean {
    return this.#closedInfo !== undefined;
  }

  /** True when the link has as much queued as it may: a SEND now is refused as `busy`. */
  get full(): boolean {
    return this.room === 0;
  }

  /**
   * How many more SENDs the link takes now before it refuses them as `busy` (at least; large
   * envelopes may hit the byte limit first). A caller that seals envelopes before sending them
   * asks this first, so that it never spends a message key on an envelope that is refused.
   */
  get room(): number {
    const bytes = LINK_QUEUE_LIMITS.bytes - this.#pacedBytes - this.queuedBytes;
    if (bytes <= 0) return 0;
    return Math.max(0, LINK_QUEUE_LIMITS.frames - this.#paced.length);
  }

  /**
   * Sends an envelope to `to` and resolves with the relay's answer. A link that closes before
   * the answer resolves as `rejected`/`internal` (the caller retries on a new link). A link
   * that is `full` (the relay's frame rate or the socket cannot take more yet) resolves at once
   * as `rejected`/`busy`, without sending: the caller retries later, as for `recipient_busy`.
   */
  send(to: Uint8Array, envelope: Uint8Array): Promise<SendResult> {
    if (this.#closedInfo) return Promise.resolve({ status: "rejected", code: "internal" });
    if (this.full) return Promise.resolve(BUSY);
    const seq = this.#seq;
    this.#seq = (this.#seq + 1) >>> 0;
    const p = new Promise<SendResult>((r) => this.#pending.set(seq, r));
    this.#pushPaced(encodeFrame({ type: "send", seq, to, envelope }));
    return p;
  }

  #pushPaced(frame: Uint8Array): void {
    if (this.#paced.length === 0 && this.#bucket!.take(Date.now())) {
      this.#channel.push(frame);
      return;
    }
    this.#paced.push(frame);
    this.#pacedBytes += frame.length;
    this.#schedulePump();
  }

  #schedulePump(): void {
    if (this.#pumpTimer !== undefined || this.#closedInfo) return;
    const wait = Math.max(1, this.#bucket!.waitMs(Date.now()));
    this.#pumpTimer = setTimeout(() => {
      this.#pumpTimer = undefined;
      const now = Date.now();
      let n = 0;
      while (n < this.#paced.length && this.#bucket!.take(now)) n++;
      for (const f of this.#paced.splice(0, n)) {
        this.#pacedBytes -= f.length;
        this.#channel.push(f);
      }
      if (this.#paced.length > 0) this.#schedulePump();
    }, wait);
  }

  /** Asks to be told when these ids come online or go offline. */
  watch(ids: Uint8Array[]): void {
    for (let i = 0; i < ids.length; i += 256) {
      this.#pushPaced(encodeFrame({ type: "watch", ids: ids.slice(i, i + 256) }));
    }
  }

  /** Drops presence watches. */
  unwatch(ids: Uint8Array[]): void {
    for (let i = 0; i < ids.length; i += 256) {
      this.#pushPaced(encodeFrame({ type: "unwatch", ids: ids.slice(i, i + 256) }));
    }
  }

  /** Sends a raw frame (tests use this to send what a normal client would not). */
  pushRawFrame(frame: Uint8Array): void {
    this.#channel.push(frame);
  }

  /** Drops the connection at once, without a closing handshake. */
  terminate(): Promise<LinkClosed> {
    this.#ws.terminate();
    return this.closed();
  }

  /** Stops reading from the socket (tests of slow readers). */
  pauseReading(): void {
    (this.#ws as unknown as { _socket?: { pause(): void } })._socket?.pause();
  }

  /** Reads from the socket again after pauseReading(). */
  resumeReading(): void {
    (this.#ws as unknown as { _socket?: { resume(): void } })._socket?.resume();
  }

  /** Sends a raw WebSocket message past the record layer (attack tests). */
  sendRawWire(bytes: Uint8Array): void {
    this.#ws.send(bytes);
  }

  /** Closes the link. */
  close(): Promise<LinkClosed> {
    this.#ws.close(1000, "bye");
    return this.closed();
  }
}
