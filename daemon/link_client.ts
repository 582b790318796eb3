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
import type WebSocket from "ws";
import type { RelayAddress } from "../protocol/address.ts";
import type { Channel } from "../protocol/channel.ts";
import { type DhKeyPair, type SigningKeyPair } from "../protocol/_crypto.ts";
import type { ErrorCode } from "../protocol/errors.ts";
import { encodeFrame, type Frame, type SendStatus } from "../protocol/frames.ts";
import { connectLink, type LinkHooks } from "./_link_connect.ts";
import { LinkSendQueue } from "./_link_queue.ts";

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

const BUSY: SendResult = Object.freeze({ status: "rejected", code: "busy" });

export { LINK_QUEUE_LIMITS } from "./_link_queue.ts";

/** One authenticated link. */
export class LinkClient {
  readonly #ws: WebSocket;
  readonly #channel: Channel;
  readonly #o: LinkClientOptions;
  readonly #queue = new LinkSendQueue(
    (frame) => this.#channel.push(frame),
    () => this.#closedInfo !== undefined,
  );
  #closedInfo: LinkClosed | undefined;
  #lastError: LinkClosed | undefined;
  #closedWaiters: ((c: LinkClosed) => void)[] = [];
  readonly #hooks: LinkHooks = {
    link: this,
    lastError: () => this.#lastError,
    setLastError: (e) => {
      this.#lastError = e;
    },
    pace: (bucket) => {
      this.#queue.bucket = bucket;
    },
    onFrame: (f) => this.#onFrame(f),
    onClosed: (info) => this.#onClosed(info),
    receive: (bytes) => this.#channel.receive(bytes),
  };
  /** The WELCOME frame. */
  welcome!: Welcome;

  private constructor(
    ws: WebSocket,
    channelFactory: (h: LinkHooks) => Channel,
    o: LinkClientOptions,
    /** The negotiated link version (1 or 2). */
    readonly version: number,
  ) {
    this.#ws = ws;
    this.#o = o;
    this.#channel = channelFactory(this.#hooks);
  }

  /** Connects, runs the handshake, and resolves after the relay's WELCOME. */
  static connect(o: LinkClientOptions): Promise<LinkClient> {
    return connectLink(
      o,
      (ws, channelFactory, version) => new LinkClient(ws, channelFactory, o, version).#hooks,
    );
  }

  /** This daemon's id, as the relay derived it. */
  get id(): Uint8Array {
    return this.welcome.id;
  }

  /** SENDs for which no RESULT came yet. */
  get inFlight(): number {
    return this.#queue.inFlight;
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
      case "result":
        this.#queue.result(f.seq, { status: f.status, code: f.code });
        break;
      case "ack":
        this.#queue.ack(f.upto);
        break;
      case "presence":
        this.#o.onPresence?.(f.id, f.online);
        break;
      case "error":
        this.#lastError = { code: f.code, reason: f.reason };
        break;
    }
  }

  #onClosed(info: LinkClosed): void {
    if (this.#closedInfo) return;
    this.#closedInfo = info;
    this.#queue.dropPaced();
    this.#channel.close();
    this.#queue.rejectPending();
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
    return this.#queue.room(this.queuedBytes);
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
    return this.#queue.send(to, envelope);
  }

  /** Asks to be told when these ids come online or go offline. */
  watch(ids: Uint8Array[]): void {
    for (let i = 0; i < ids.length; i += 256) {
      this.#queue.pushPaced(encodeFrame({ type: "watch", ids: ids.slice(i, i + 256) }));
    }
  }

  /** Drops presence watches. */
  unwatch(ids: Uint8Array[]): void {
    for (let i = 0; i < ids.length; i += 256) {
      this.#queue.pushPaced(encodeFrame({ type: "unwatch", ids: ids.slice(i, i + 256) }));
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
