/**
 * One daemon's connection to the relay: the XK handshake and login, then the frame loop.
 *
 * Handshake failures of any kind (bad MAC, bad signature, unknown id on a closed relay, malformed
 * message, timeout) end the same way: the socket is closed with code 4012 `auth_failed` and
 * nothing else is sent, so a prober cannot tell the causes apart.
 *
 * @module
 */
import { Channel } from "../protocol/channel.ts";
import { type DhKeyPair } from "../protocol/_crypto.ts";
import { ERROR_CODES, type ErrorCode, ProtocolError } from "../protocol/errors.ts";
import { encodeFrame, type Frame } from "../protocol/frames.ts";
import { LinkResponder } from "../protocol/link_handshake.ts";
import { type Hub, idKey, type SessionHandle } from "./hub.ts";
import { type RelayLimits, TokenBucket } from "./limits.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import type { Registry } from "./registry.ts";

/** What every link shares. */
export interface RelayContext {
  hub: Hub;
  registry: Registry;
  metrics: Metrics;
  log: Logger;
  limits: RelayLimits;
  staticKey: DhKeyPair;
  /** False: only ids already in the registry may log in. */
  openRegistration: boolean;
  /** The clock (injected for tests). */
  now(): number;
  /** Handshakes in progress now. */
  pending: { count: number };
  /** Test hook: sees every WebSocket message the relay receives. */
  tap?: (bytes: Uint8Array) => void;
}

/** The WebSocket close code for an error code. */
export function closeCode(code: ErrorCode): number {
  return 4000 + ERROR_CODES[code];
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

type State = "msg1" | "msg3" | "busy" | "open" | "closed";

/** Serves one WebSocket. */
export class RelayLink implements SessionHandle {
  readonly #ctx: RelayContext;
  readonly #ws: WebSocket;
  #state: State = "msg1";
  #responder: LinkResponder;
  #channel: Channel | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #bucket: TokenBucket | undefined;
  #bytes: TokenBucket | undefined;
  #counted = true;
  id: Uint8Array = new Uint8Array(16);
  key = "";

  /** Takes over a freshly upgraded socket. The caller already counted a pending handshake. */
  constructor(ctx: RelayContext, ws: WebSocket) {
    this.#ctx = ctx;
    this.#ws = ws;
    ws.binaryType = "arraybuffer";
    this.#responder = new LinkResponder(ctx.staticKey);
    ctx.metrics.inc("handshakes_started_total");
    this.#timer = setTimeout(() => this.#authFail(), ctx.limits.handshakeTimeoutMs);
    ws.onmessage = (ev) => this.#onMessage(ev);
    ws.onclose = () => this.#onClose();
    ws.onerror = () => {};
  }

  #endPending(): void {
    if (this.#counted) {
      this.#counted = false;
      this.#ctx.pending.count--;
    }
    clearTimeout(this.#timer);
  }

  #authFail(): void {
    if (this.#state === "closed" || this.#state === "open") return;
    this.#ctx.metrics.inc("handshakes_failed_total");
    this.#endPending();
    this.#closeSocket(closeCode("auth_failed"), "auth_failed");
  }

  #closeSocket(code: number, reason: string): void {
    this.#state = "closed";
    try {
      this.#ws.close(code, reason);
    } catch {
      // already closing
    }
  }

  #onMessage(ev: MessageEvent): void {
    if (!(ev.data instanceof ArrayBuffer)) {
      if (this.#state === "open") this.terminate("bad_frame", "Text messages are not allowed");
      else this.#authFail();
      return;
    }
    const bytes = new Uint8Array(ev.data);
    this.#ctx.tap?.(bytes);
    switch (this.#state) {
      case "msg1":
        this.#state = "busy";
        this.#responder.accept(bytes).then((msg2) => {
          if (this.#state !== "busy") return;
          this.#state = "msg3";
          this.#ws.send(msg2);
        }, () => this.#authFail());
        return;
      case "msg3":
        this.#state = "busy";
        this.#responder.complete(bytes).then((login) => this.#login(login), () => this.#authFail());
        return;
      case "open":
        this.#ctx.metrics.inc("records_received_total");
        // Metered before decryption: the work a session can cause is bounded by bytes, too.
        if (!this.#bytes!.take(this.#ctx.now(), bytes.length)) {
          this.#ctx.metrics.inc("limit_hits_total");
          return this.terminate(
            "rate_limited",
            `More than ${this.#ctx.limits.bytesPerSecond} bytes/s`,
          );
        }
        this.#channel!.receive(bytes);
        return;
      default:
        // A message while we are still working on the previous one: the peer is not following
        // the protocol (it must wait for our answer).
        if (this.#state === "busy") this.#authFail();
    }
  }

  #login(login: Awaited<ReturnType<LinkResponder["complete"]>>): void {
    if (this.#state !== "busy") return;
    const ctx = this.#ctx;
    const now = ctx.now();
    let registered = false;
    if (ctx.hub.size >= ctx.limits.maxSessions && !ctx.hub.isOnline(idKey(login.clientId))) {
      ctx.metrics.inc("limit_hits_total");
      this.#endPending();
      this.#closeSocket(closeCode("server_busy"), "server_busy");
      return;
    }
    try {
      if (ctx.openRegistration) {
        const r = ctx.registry.register(login.clientId, login.identityKey, utcDay(now));
        if (r === "conflict") return this.#authFail();
        registered = r === "new";
      } else if (!ctx.registry.lookup(login.clientId)) {
        return this.#authFail(); // indistinguishable from a bad signature
      }
    } catch (e) {
      ctx.log.warn("registry_error", { error: (e as Error).message });
      this.#endPending();
      this.#closeSocket(closeCode("internal"), "internal");
      return;
    }
    this.#endPending();
    this.id = login.clientId;
    this.key = idKey(login.clientId);
    this.#bucket = new TokenBucket(ctx.limits.framesPerSecond, ctx.limits.frameBurst, now);
    this.#bytes = new TokenBucket(ctx.limits.bytesPerSecond, 2 * ctx.limits.bytesPerSecond, now);
    this.#channel = new Channel({
      send: login.send,
      recv: login.recv,
      peer: "daemon",
      rekeyAfter: ctx.limits.rekeyAfter,
      write: (r) => {
        ctx.metrics.inc("records_sent_total");
        if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(r);
      },
      onFrames: (frames) => this.#onFrames(frames),
      onError: (e) => this.#onChannelError(e),
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
    this.#ctx.hub.detach(this);
    this.#closeSocket(closeCode(e.code), e.code);
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
      status = ctx.hub.route(this, to, envelope);
    }
    ctx.metrics.inc(`envelopes_${status}_total`);
    if (status === "delivered") ctx.metrics.inc("envelope_bytes_total", envelope.length);
    this.#push(encodeFrame({ type: "result", seq, status, code }));
  }

  #push(frame: Uint8Array): boolean {
    const ch = this.#channel;
    if (this.#state !== "open" || !ch) return false;
    if (ch.queuedBytes + this.#ws.bufferedAmount > this.#ctx.limits.maxQueueBytes) {
      this.#ctx.metrics.inc("limit_hits_total");
      this.terminate("slow_reader", "Too much queued for this session");
      return false;
    }
    ch.push(frame);
    return true;
  }

  /** SessionHandle: queue a DELIVER. */
  deliver(from: Uint8Array, envelope: Uint8Array): boolean {
    return this.#push(encodeFrame({ type: "deliver", from, envelope }));
  }

  /** SessionHandle: queue a PRESENCE. */
  presence(id: Uint8Array, online: boolean): void {
    this.#push(encodeFrame({ type: "presence", id, online }));
  }

  /** SessionHandle: send an ERROR frame (when the link is up), then close. */
  terminate(code: ErrorCode, reason: string): void {
    if (this.#state === "closed") return;
    const ch = this.#channel;
    const wasOpen = this.#state === "open";
    this.#state = "closed";
    this.#ctx.hub.detach(this);
    if (wasOpen && ch && !ch.failed) {
      ch.push(encodeFrame({ type: "error", code, reason }));
      ch.drained().then(() => this.#closeSocketNow(closeCode(code), code));
    } else {
      this.#closeSocketNow(closeCode(code), code);
    }
  }

  #closeSocketNow(code: number, reason: string): void {
    this.#channel?.close();
    try {
      this.#ws.close(code, reason);
    } catch {
      // already closing
    }
  }

  #onClose(): void {
    if (this.#state !== "open" && this.#state !== "closed") {
      this.#ctx.metrics.inc("handshakes_failed_total");
    }
    this.#endPending();
    this.#state = "closed";
    this.#channel?.close();
    this.#ctx.hub.detach(this);
  }
}
