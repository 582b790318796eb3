/**
 * A logged-in link's session: its channel, rate limits and frames, the answers to its SENDs
 * (RESULTs, or version 2's ACKs) and the bounds on what is queued towards it.
 *
 * Bounded: the bytes queued towards a session are capped, and an envelope that would pass the
 * cap is refused with `recipient_busy` rather than closing the recipient.
 *
 * @module
 */
import { Channel, lazyAck, lazyDeliver, type LazyFrame } from "../protocol/channel.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { encodeFrame, type Frame } from "../protocol/frames.ts";
import { type LinkLogin } from "../protocol/link_handshake.ts";
import type { ServerWebSocket } from "../lib/net/mod.ts";
import type { DeliverResult } from "./hub.ts";
import { TokenBucket } from "./limits.ts";
import { CONTROL_HEADROOM, RECEIVE_BACKLOG, type RelayContext } from "./_link_context.ts";
import type { RelayLink } from "./link.ts";
import { type SendAnswer, SendAnswers } from "./_send_answers.ts";

/** What a session asks of its link. */
export interface SessionHooks {
  /** Whether the link is still open. */
  open(): boolean;
  /** The channel failed. */
  onError(e: ProtocolError): void;
}

/** The session of one logged-in {@linkcode RelayLink}. */
export class LinkSession {
  readonly #ctx: RelayContext;
  readonly #link: RelayLink;
  readonly #ws: ServerWebSocket;
  readonly #open: () => boolean;
  /** The channel, from the login on. */
  readonly channel: Channel;
  #version: number;
  /** Version 2: the seq of the last delivered SEND not yet covered by an ACK sent. */
  #ackSeq = 0;
  #ackOwed = false;
  #bucket: TokenBucket;
  #bytes: TokenBucket;
  /** Over the byte rate: nothing more is opened, and the session closes (see receive). */
  #overRate = false;
  /** Made at the first SEND: an idle session (most of them) holds none (idle_kib_5k). */
  #answersOrNone: SendAnswers | undefined;

  /** The session of `link`, logged in with `login` at `now`. */
  constructor(
    ctx: RelayContext,
    link: RelayLink,
    ws: ServerWebSocket,
    login: LinkLogin,
    now: number,
    hooks: SessionHooks,
  ) {
    this.#ctx = ctx;
    this.#link = link;
    this.#ws = ws;
    this.#open = () => hooks.open();
    this.#version = login.version;
    this.#bucket = new TokenBucket(ctx.limits.framesPerSecond, ctx.limits.frameBurst, now);
    this.#bytes = new TokenBucket(ctx.limits.bytesPerSecond, 2 * ctx.limits.bytesPerSecond, now);
    this.channel = new Channel({
      send: login.send,
      recv: login.recv,
      peer: "daemon",
      version: login.version,
      trailer: () => this.takeAck(),
      rekeyAfter: ctx.limits.rekeyAfter,
      rekeyAfterBytes: ctx.limits.rekeyAfterBytes,
      write: (r) => {
        ctx.metrics.inc("records_sent_total");
        ws.send(r);
      },
      writeParts: (parts) => {
        ctx.metrics.inc("records_sent_total");
        ws.sendParts(parts);
      },
      onFrames: (frames) => this.#onFrames(frames),
      onError: (e) => hooks.onError(e),
      onBacklogCleared: () => {
        if (hooks.open()) ws.paused = false;
      },
    });
  }

  /** A WebSocket message received on the open link: a record. */
  receive(data: Uint8Array): void {
    if (this.#overRate) return; // read before the pause took effect: never opened
    this.#ctx.metrics.inc("records_received_total");
    // Metered before decryption: the work a session can cause is bounded by bytes, too. The
    // records within the budget that are still being opened (large ones, asynchronously) are
    // handled first, so that what went through is answered; then the session is closed.
    if (!this.#bytes.take(this.#ctx.now(), data.length)) {
      this.#ctx.metrics.inc("limit_hits_total");
      this.#overRate = true;
      this.#ws.paused = true;
      void this.channel.received().then(() =>
        this.#link.terminate("rate_limited", `More than ${this.#ctx.limits.bytesPerSecond} bytes/s`)
      );
      return;
    }
    this.channel.receive(data);
    if (this.channel.receiveBacklog > RECEIVE_BACKLOG) this.#ws.paused = true;
  }

  #onFrames(frames: Frame[]): void {
    const ctx = this.#ctx;
    if (!this.#open()) return;
    ctx.metrics.inc("frames_received_total", frames.length);
    // Every record costs at least one token, so records of skipped frames are metered too.
    if (!this.#bucket.take(ctx.now(), Math.max(1, frames.length))) {
      ctx.metrics.inc("limit_hits_total");
      return this.#link.terminate(
        "rate_limited",
        `More than ${ctx.limits.framesPerSecond} frames/s`,
      );
    }
    for (const f of frames) {
      if (!this.#open()) return;
      switch (f.type) {
        case "send":
          this.#onSend(f.seq, f.to, f.envelope);
          break;
        case "watch":
          if (!ctx.hub.watch(this.#link, f.ids, ctx.limits.maxWatches)) {
            ctx.metrics.inc("limit_hits_total");
            return this.#link.terminate(
              "watch_limit",
              `More than ${ctx.limits.maxWatches} watches`,
            );
          }
          break;
        case "unwatch":
          ctx.hub.unwatch(this.#link, f.ids);
          break;
      }
    }
  }

  #onSend(seq: number, to: Uint8Array, envelope: Uint8Array): void {
    const ctx = this.#ctx;
    if (envelope.length > ctx.limits.maxEnvelope) {
      return this.#answers().now({ seq, status: "rejected", code: "too_large", bytes: 0 });
    }
    this.#answers().route(seq, ctx.hub.route(this.#link, to, envelope), envelope.length);
  }

  #answers(): SendAnswers {
    return this.#answersOrNone ??= new SendAnswers((a) => this.#answer(a));
  }

  #answer(a: SendAnswer): void {
    const ctx = this.#ctx;
    if (a.code === "recipient_busy") ctx.metrics.inc("envelopes_busy_total");
    ctx.metrics.inc(`envelopes_${a.status}_total`);
    if (a.status === "delivered") ctx.metrics.inc("envelope_bytes_total", a.bytes);
    if (!this.#open()) return;
    if (a.status === "delivered" && this.#version >= 2) {
      // Answered by the ACK at the end of the next record to this session (ACK_DELAY_MS at most).
      this.#ackSeq = a.seq;
      if (!this.#ackOwed) {
        this.#ackOwed = true;
        ctx.acks.due(this.#link);
      }
      return;
    }
    this.#control(encodeFrame({ type: "result", seq: a.seq, status: a.status, code: a.code }));
  }

  /** The ACK owed, as a frame to end the record being sealed (Channel's trailer). */
  takeAck(): LazyFrame | undefined {
    if (!this.#ackOwed) return undefined;
    this.#ackOwed = false;
    this.#ctx.acks.done(this.#link);
    return lazyAck(this.#ackSeq);
  }

  /** Acker: no record went to this session within the delay; send the ACK on its own. */
  flushAck(): void {
    if (this.#open() && this.#ackOwed) this.channel.kick();
  }

  /** Queued (QueueBudget): what this session holds queued now. */
  queued(): number {
    return this.channel.queuedBytes + this.#ws.bufferedAmount;
  }

  /** Queues a relay frame: refused only past the headroom, which closes the session. */
  #control(frame: Uint8Array): void {
    if (!this.#open()) return;
    if (this.queued() + frame.length > this.#ctx.limits.maxQueueBytes + CONTROL_HEADROOM) {
      this.#ctx.metrics.inc("limit_hits_total");
      this.#ctx.metrics.inc("slow_readers_total");
      return this.#link.terminate("slow_reader", "Too much queued for this session");
    }
    this.channel.push(frame);
  }

  /** SessionHandle: queue a DELIVER, unless the queue is full (the sender retries later). */
  deliver(from: Uint8Array, envelope: Uint8Array): DeliverResult {
    if (!this.#open()) return "closed";
    // Written into the receiver's next record, in this event-loop turn (_frame_lazy.ts).
    const frame = lazyDeliver(from, envelope);
    if (this.queued() + frame.length > this.#ctx.limits.maxQueueBytes) return "busy";
    if (!this.#ctx.queueBudget.take(this.#link, frame.length)) return "busy"; // the relay-wide bound
    this.channel.push(frame);
    return "ok";
  }

  /** SessionHandle: queue a PRESENCE. */
  presence(id: Uint8Array, online: boolean): void {
    this.#control(encodeFrame({ type: "presence", id, online }));
  }
}
