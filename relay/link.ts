/**
 * One daemon's connection to the relay: the XK handshake and login, then the frame loop.
 *
 * Handshake failures of any kind (bad MAC, bad signature, unknown id on a closed relay, malformed
 * or oversized message, timeout) end the same way: the socket is closed with code 4012
 * `auth_failed` and nothing else is sent, so a prober cannot tell the causes apart.
 *
 * Bounded: before the login a message is at most 160 bytes (LINK_MAX_HANDSHAKE_MESSAGE), after
 * it one record; the link holds a handshake slot, then a session slot (admission.ts); the bytes
 * queued towards it are capped, and an envelope that would pass the cap is refused with
 * `recipient_busy` rather than closing the recipient.
 *
 * Link versions (protocol README, section 2): a version-1 session gets one RESULT per SEND, as
 * before; a version-2 session gets RESULTs only for SENDs that were not delivered and a
 * cumulative ACK for the rest, at the end of the next record it is sent (acks.ts).
 *
 * @module
 */
import { constantTimeEqual } from "../protocol/bytes.ts";
import { Channel } from "../protocol/channel.ts";
import { type DhKeyPair } from "../protocol/_crypto.ts";
import { MAX_WIRE_MESSAGE } from "../protocol/constants.ts";
import { ERROR_CODES, type ErrorCode, ProtocolError } from "../protocol/errors.ts";
import { encodeFrame, type Frame } from "../protocol/frames.ts";
import { type LinkLogin, LinkResponder } from "../protocol/link_handshake.ts";
import type { ServerWebSocket } from "../lib/net/mod.ts";
import type { AckClock, Acker } from "./acks.ts";
import type { SlotHolder, SlotPool } from "./admission.ts";
import { type DeliverResult, type Hub, idKey, type SessionHandle } from "./hub.ts";
import { type RelayLimits, TokenBucket } from "./limits.ts";
import type { Logger, RefusalLog } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import type { QueueBudget } from "./queue_budget.ts";
import type { Registry } from "./registry.ts";

/** What every link shares. */
export interface RelayContext {
  hub: Hub;
  registry: Registry;
  metrics: Metrics;
  log: Logger;
  refusals: RefusalLog;
  limits: RelayLimits;
  staticKey: DhKeyPair;
  /** False: only ids already in the registry may log in. */
  openRegistration: boolean;
  /** The clock (injected for tests). */
  now(): number;
  /** Handshake slots. */
  pending: SlotPool<RelayLink>;
  /** Session slots. */
  sessions: SlotPool<RelayLink>;
  /** TCP connections open on the public listener. */
  connections(): number;
  /** The clock of version 2's ACKs. */
  acks: AckClock;
  /** Bytes queued towards all sessions (maxTotalQueueBytes). */
  queueBudget: QueueBudget;
  /** Test hook: sees every WebSocket message the relay receives. */
  tap?: (bytes: Uint8Array) => void;
}

/**
 * Bytes of relay frames (RESULT, PRESENCE, ERROR) a session may have queued beyond maxQueueBytes:
 * answers to its own frames are never refused, so a session that sends without reading is
 * closed as `slow_reader` only past this headroom (1 MiB ≈ 87,000 RESULTs).
 */
export const CONTROL_HEADROOM = 1024 * 1024;

/**
 * Bytes of a session's received records that may wait to be opened (large records go to
 * WebCrypto asynchronously); past this the relay stops reading the socket until they are
 * opened, so a fast sender is held back by TCP instead of filling the relay's memory.
 */
export const RECEIVE_BACKLOG = 4 * 262_160;

/** The WebSocket close code for an error code. */
export function closeCode(code: ErrorCode): number {
  return 4000 + ERROR_CODES[code];
}

type State = "new" | "msg1" | "msg3" | "busy" | "open" | "closed";

/** Serves one WebSocket. */
export class RelayLink implements SessionHandle, SlotHolder, Acker {
  readonly #ctx: RelayContext;
  #ws: ServerWebSocket | undefined;
  #state: State = "new";
  /** The handshake; dropped at the login (its keys and hashes are not needed after). */
  #responder: LinkResponder | undefined;
  #channel: Channel | undefined;
  #version = 1;
  /** Version 2: the seq of the last delivered SEND not yet covered by an ACK sent. */
  #ackSeq = 0;
  #ackOwed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #bucket: TokenBucket | undefined;
  #bytes: TokenBucket | undefined;
  id: Uint8Array = new Uint8Array(16);
  key = "";

  /** A link for a connection from `source`; it takes a handshake slot before `start`. */
  constructor(ctx: RelayContext, readonly source: string) {
    this.#ctx = ctx;
    this.#responder = new LinkResponder(ctx.staticKey);
  }

  /** Takes over a freshly upgraded socket. */
  start(ws: ServerWebSocket): void {
    const ctx = this.#ctx;
    this.#ws = ws;
    this.#state = "msg1";
    ctx.metrics.inc("handshakes_started_total");
    this.#timer = setTimeout(() => this.#authFail("timeout"), ctx.limits.handshakeTimeoutMs);
    ws.onmessage = (data, binary) => this.#onMessage(data, binary);
    ws.onclose = (_code, _reason, cause) => this.#onClose(cause);
  }

  /** SlotHolder: gives up the slot (handshake or session) to a newcomer. */
  evict(): void {
    this.#ctx.metrics.inc("limit_hits_total");
    this.#ctx.refusals.count(this.#state === "open" ? "session_evicted" : "handshake_evicted");
    if (this.#state === "open") return this.terminate("server_busy", "Relay full: evicted");
    this.#endPending();
    this.#closeSocket(closeCode("server_busy"), "server_busy");
  }

  #endPending(): void {
    this.#ctx.pending.release(this);
    clearTimeout(this.#timer);
  }

  #authFail(why: string): void {
    if (this.#state === "closed" || this.#state === "open") return;
    this.#ctx.metrics.inc("handshakes_failed_total");
    this.#ctx.refusals.count(`handshake_${why}`);
    this.#endPending();
    this.#closeSocket(closeCode("auth_failed"), "auth_failed");
  }

  #closeSocket(code: number, reason: string): void {
    this.#state = "closed";
    this.#ws?.close(code, reason);
  }

  #onMessage(data: Uint8Array, binary: boolean): void {
    if (!binary) {
      if (this.#state === "open") this.terminate("bad_frame", "Text messages are not allowed");
      else this.#authFail("bad_message");
      return;
    }
    this.#ctx.tap?.(data);
    switch (this.#state) {
      case "msg1":
        this.#state = "busy";
        this.#responder!.accept(data).then((msg2) => {
          if (this.#state !== "busy") return;
          this.#state = "msg3";
          this.#ws!.send(msg2);
        }, () => this.#authFail("bad_message"));
        return;
      case "msg3":
        this.#state = "busy";
        this.#responder!.complete(data).then(
          (login) => this.#login(login),
          () => this.#authFail("bad_message"),
        );
        return;
      case "open":
        this.#ctx.metrics.inc("records_received_total");
        // Metered before decryption: the work a session can cause is bounded by bytes, too.
        if (!this.#bytes!.take(this.#ctx.now(), data.length)) {
          this.#ctx.metrics.inc("limit_hits_total");
          return this.terminate(
            "rate_limited",
            `More than ${this.#ctx.limits.bytesPerSecond} bytes/s`,
          );
        }
        this.#channel!.receive(data);
        if (this.#channel!.receiveBacklog > RECEIVE_BACKLOG) this.#ws!.paused = true;
        return;
      default:
        // A message while we are still working on the previous one: the peer is not following
        // the protocol (it must wait for our answer).
        if (this.#state === "busy") this.#authFail("bad_message");
    }
  }

  /** The login rules (protocol README 9.1), in order. */
  #login(login: LinkLogin): void {
    if (this.#state !== "busy") return;
    const ctx = this.#ctx;
    const now = ctx.now();
    // 1. A session slot must be available (per-IP cap; global cap unless some source holds more
    // than this one). Checked before the registry, so that a full relay answers server_busy to
    // registered and unregistered ids alike; nothing is evicted yet.
    const old = ctx.hub.get(idKey(login.clientId));
    const replacing = old instanceof RelayLink && ctx.sessions.has(old) ? old : undefined;
    if (replacing) {
      // Replacing this id's own session keeps the total; only the per-IP cap can refuse it.
      if (
        replacing.source !== this.source &&
        ctx.sessions.countOf(this.source) >= ctx.limits.maxSessionsPerIp
      ) return this.#busy("sessions_per_ip");
    } else {
      const check = ctx.sessions.check(this);
      if (check !== "ok") {
        return this.#busy(check === "full" ? "sessions_full" : "sessions_per_ip");
      }
    }
    // 2. The registry may refuse the id (closed registration, or a key that differs).
    let known;
    try {
      known = ctx.registry.lookup(login.clientId);
    } catch (e) {
      return this.#internal(e);
    }
    if (known && !constantTimeEqual(known.publicKey, login.identityKey)) {
      return this.#authFail("bad_message"); // a second preimage of the id; never overwritten
    }
    if (!known && !ctx.openRegistration) return this.#authFail("bad_message");
    // 3. Take the slot (evicting the biggest source's newest session if the relay is full).
    if (replacing) ctx.sessions.release(replacing);
    if (ctx.sessions.admit(this, "newest") !== "ok") return this.#busy("sessions_full");
    // 4. Register a new id.
    let registered = false;
    if (!known) {
      try {
        const r = ctx.registry.register(login.clientId, login.identityKey);
        if (r === "conflict") {
          ctx.sessions.release(this);
          return this.#authFail("bad_message");
        }
        registered = r === "new";
      } catch (e) {
        ctx.sessions.release(this);
        return this.#internal(e);
      }
    }
    this.#endPending();
    this.#open(login, registered, now);
  }

  #busy(kind: string): void {
    this.#ctx.metrics.inc("limit_hits_total");
    this.#ctx.refusals.count(kind);
    this.#endPending();
    this.#closeSocket(closeCode("server_busy"), "server_busy");
  }

  #internal(e: unknown): void {
    this.#ctx.log.warn("registry_error", { error: (e as Error).message });
    this.#endPending();
    this.#closeSocket(closeCode("internal"), "internal");
  }

  #open(login: LinkLogin, registered: boolean, now: number): void {
    const ctx = this.#ctx;
    const ws = this.#ws!;
    this.#responder = undefined;
    this.#version = login.version;
    this.id = login.clientId;
    this.key = idKey(login.clientId);
    // From now on a message may be a whole record; an oversized one is `too_large`.
    ws.maxMessage = MAX_WIRE_MESSAGE;
    ws.tooBig = { code: closeCode("too_large"), reason: "too_large" };
    ws.trust();
    this.#bucket = new TokenBucket(ctx.limits.framesPerSecond, ctx.limits.frameBurst, now);
    this.#bytes = new TokenBucket(ctx.limits.bytesPerSecond, 2 * ctx.limits.bytesPerSecond, now);
    this.#channel = new Channel({
      send: login.send,
      recv: login.recv,
      peer: "daemon",
      version: login.version,
      trailer: () => this.#takeAck(),
      rekeyAfter: ctx.limits.rekeyAfter,
      rekeyAfterBytes: ctx.limits.rekeyAfterBytes,
      write: (r) => {
        ctx.metrics.inc("records_sent_total");
        ws.send(r);
      },
      onFrames: (frames) => this.#onFrames(frames),
      onError: (e) => this.#onChannelError(e),
      onBacklogCleared: () => {
        if (this.#state === "open") ws.paused = false;
      },
    });
    this.#state = "open";
    ctx.metrics.inc("logins_total");
    if (registered) ctx.metrics.inc("registrations_total");
    if (ctx.hub.attach(this)) ctx.metrics.inc("sessions_replaced_total");
    this.#channel.push(encodeFrame({
      type: "welcome",
      id: this.id,
      registered,
      maxEnvelope: ctx.limits.maxEnvelope,
      framesPerSecond: ctx.limits.framesPerSecond,
      maxWatches: ctx.limits.maxWatches,
    }));
  }

  #onChannelError(e: ProtocolError): void {
    this.#ctx.metrics.inc("link_errors_total");
    if (this.#state === "closed") return;
    this.#detach();
    this.#closeSocket(closeCode(e.code), e.code);
  }

  #detach(): void {
    this.#ctx.acks.done(this);
    this.#ctx.queueBudget.release(this);
    this.#ctx.hub.detach(this);
    this.#ctx.sessions.release(this);
  }

  #onFrames(frames: Frame[]): void {
    const ctx = this.#ctx;
    if (this.#state !== "open") return;
    ctx.metrics.inc("frames_received_total", frames.length);
    // Every record costs at least one token, so records of skipped frames are metered too.
    if (!this.#bucket!.take(ctx.now(), Math.max(1, frames.length))) {
      ctx.metrics.inc("limit_hits_total");
      return this.terminate("rate_limited", `More than ${ctx.limits.framesPerSecond} frames/s`);
    }
    for (const f of frames) {
      if (this.#state !== "open") return;
      switch (f.type) {
        case "send":
          this.#onSend(f.seq, f.to, f.envelope);
          break;
        case "watch":
          if (!ctx.hub.watch(this, f.ids, ctx.limits.maxWatches)) {
            ctx.metrics.inc("limit_hits_total");
            return this.terminate("watch_limit", `More than ${ctx.limits.maxWatches} watches`);
          }
          break;
        case "unwatch":
          ctx.hub.unwatch(this, f.ids);
          break;
      }
    }
  }

  #onSend(seq: number, to: Uint8Array, envelope: Uint8Array): void {
    const ctx = this.#ctx;
    let status: "delivered" | "offline" | "rejected";
    let code: ErrorCode | null = null;
    if (envelope.length > ctx.limits.maxEnvelope) {
      status = "rejected";
      code = "too_large";
    } else {
      const r = ctx.hub.route(this, to, envelope);
      if (r === "busy") {
        status = "rejected";
        code = "recipient_busy";
        ctx.metrics.inc("envelopes_busy_total");
      } else status = r;
    }
    ctx.metrics.inc(`envelopes_${status}_total`);
    if (status === "delivered") ctx.metrics.inc("envelope_bytes_total", envelope.length);
    if (status === "delivered" && this.#version >= 2) {
      // Answered by the ACK at the end of the next record to this session (ACK_DELAY_MS at most).
      this.#ackSeq = seq;
      if (!this.#ackOwed) {
        this.#ackOwed = true;
        ctx.acks.due(this);
      }
      return;
    }
    this.#control(encodeFrame({ type: "result", seq, status, code }));
  }

  /** The ACK owed, as a frame to end the record being sealed (Channel's trailer). */
  #takeAck(): Uint8Array | undefined {
    if (!this.#ackOwed) return undefined;
    this.#ackOwed = false;
    this.#ctx.acks.done(this);
    return encodeFrame({ type: "ack", upto: this.#ackSeq });
  }

  /** Acker: no record went to this session within the delay; send the ACK on its own. */
  flushAck(): void {
    if (this.#state === "open" && this.#ackOwed) this.#channel!.kick();
  }

  #queued(): number {
    return this.#channel!.queuedBytes + this.#ws!.bufferedAmount;
  }

  /** Queued (QueueBudget): what this session holds queued now. */
  queued(): number {
    return this.#channel && this.#ws ? this.#queued() : 0;
  }

  /** Queues a relay frame: refused only past the headroom, which closes the session. */
  #control(frame: Uint8Array): void {
    if (this.#state !== "open") return;
    if (this.#queued() + frame.length > this.#ctx.limits.maxQueueBytes + CONTROL_HEADROOM) {
      this.#ctx.metrics.inc("limit_hits_total");
      this.#ctx.metrics.inc("slow_readers_total");
      return this.terminate("slow_reader", "Too much queued for this session");
    }
    this.#channel!.push(frame);
  }

  /** SessionHandle: queue a DELIVER, unless the queue is full (the sender retries later). */
  deliver(from: Uint8Array, envelope: Uint8Array): DeliverResult {
    if (this.#state !== "open") return "closed";
    const frame = encodeFrame({ type: "deliver", from, envelope });
    if (this.#queued() + frame.length > this.#ctx.limits.maxQueueBytes) return "busy";
    if (!this.#ctx.queueBudget.take(this, frame.length)) return "busy"; // the relay-wide bound
    this.#channel!.push(frame);
    return "ok";
  }

  /** SessionHandle: queue a PRESENCE. */
  presence(id: Uint8Array, online: boolean): void {
    this.#control(encodeFrame({ type: "presence", id, online }));
  }

  /** SessionHandle: send an ERROR frame (when the link is up), then close. */
  terminate(code: ErrorCode, reason: string): void {
    if (this.#state === "closed") return;
    const ch = this.#channel;
    const wasOpen = this.#state === "open";
    this.#state = "closed";
    this.#detach();
    this.#endPending();
    if (wasOpen && ch && !ch.failed) {
      const ack = this.#takeAck(); // delivered SENDs are answered before the link goes
      if (ack) ch.push(ack);
      ch.push(encodeFrame({ type: "error", code, reason }));
      ch.drained().then(() => this.#closeSocketNow(closeCode(code), code));
    } else {
      this.#closeSocketNow(closeCode(code), code);
    }
  }

  #closeSocketNow(code: number, reason: string): void {
    this.#channel?.close();
    this.#ws?.close(code, reason);
  }

  #onClose(cause: string): void {
    if (this.#state !== "open" && this.#state !== "closed") {
      this.#ctx.metrics.inc("handshakes_failed_total");
      this.#ctx.refusals.count(cause === "too_big" ? "handshake_too_large" : "handshake_dropped");
    }
    if (this.#state === "open" && cause === "write_timeout") {
      // Bytes were queued and the link took none for slowReaderTimeoutMs: it stopped reading.
      this.#ctx.metrics.inc("slow_readers_total");
      this.#ctx.refusals.count("slow_reader");
    }
    if (this.#state === "open" && cause === "too_big") this.#ctx.metrics.inc("link_errors_total");
    this.#endPending();
    this.#state = "closed";
    this.#channel?.close();
    this.#detach();
  }
}
