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
import { MAX_WIRE_MESSAGE } from "../protocol/constants.ts";
import { type ErrorCode, ProtocolError } from "../protocol/errors.ts";
import { encodeFrame } from "../protocol/frames.ts";
import { type LinkLogin, LinkResponder } from "../protocol/link_handshake.ts";
import type { ServerWebSocket } from "../lib/net/mod.ts";
import type { Acker } from "./acks.ts";
import type { SlotHolder } from "./admission.ts";
import { type DeliverResult, idKey, type SessionHandle } from "./hub.ts";
import { closeCode, type RelayContext } from "./_link_context.ts";
import { LinkSession } from "./_link_session.ts";
import { runLogin } from "./_link_login.ts";

export {
  closeCode,
  CONTROL_HEADROOM,
  RECEIVE_BACKLOG,
  type RelayContext,
} from "./_link_context.ts";

type State = "new" | "msg1" | "msg3" | "busy" | "open" | "closed";

/** Serves one WebSocket. */
export class RelayLink implements SessionHandle, SlotHolder, Acker {
  readonly #ctx: RelayContext;
  #ws: ServerWebSocket | undefined;
  #state: State = "new";
  /** The handshake; dropped at the login (its keys and hashes are not needed after). */
  #responder: LinkResponder | undefined;
  /** The session, from the login on (_link_session.ts). */
  #session: LinkSession | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
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
          (login) => this.#login(login).catch((e) => this.#internal(e)),
          () => this.#authFail("bad_message"),
        );
        return;
      case "open":
        return this.#session!.receive(data);
      default:
        // A message while we are still working on the previous one: the peer is not following
        // the protocol (it must wait for our answer).
        if (this.#state === "busy") this.#authFail("bad_message");
    }
  }

  /** The login rules (_link_login.ts), with this link's ways to refuse and to open. */
  #login(login: LinkLogin): Promise<void> {
    const now = this.#ctx.now();
    return runLogin({
      ctx: this.#ctx,
      link: this,
      pending: () => this.#state === "busy",
      sessionOf: (key) => {
        const old = this.#ctx.hub.get(key);
        return old instanceof RelayLink ? old : undefined;
      },
      busy: (kind) => this.#busy(kind),
      internal: (e) => this.#internal(e),
      authFail: () => this.#authFail("bad_message"),
      open: (registered) => {
        this.#endPending();
        this.#open(login, registered, now);
      },
    }, login);
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
    this.id = login.clientId;
    this.key = idKey(login.clientId);
    // From now on a message may be a whole record; an oversized one is `too_large`.
    ws.maxMessage = MAX_WIRE_MESSAGE;
    ws.tooBig = { code: closeCode("too_large"), reason: "too_large" };
    ws.trust();
    this.#session = new LinkSession(ctx, this, ws, login, now, {
      open: () => this.#state === "open",
      onError: (e) => this.#onChannelError(e),
    });
    this.#state = "open";
    ctx.metrics.inc("logins_total");
    if (registered) ctx.metrics.inc("registrations_total");
    if (ctx.hub.attach(this)) ctx.metrics.inc("sessions_replaced_total");
    this.#session.channel.push(encodeFrame({
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

  /** Acker: no record went to this session within the delay; send the ACK on its own. */
  flushAck(): void {
    this.#session?.flushAck();
  }

  /** Queued (QueueBudget): what this session holds queued now. */
  queued(): number {
    return this.#session?.queued() ?? 0;
  }

  /** SessionHandle: queue a DELIVER, unless the queue is full (the sender retries later). */
  deliver(from: Uint8Array, envelope: Uint8Array): DeliverResult {
    return this.#session?.deliver(from, envelope) ?? "closed";
  }

  /** SessionHandle: queue a PRESENCE. */
  presence(id: Uint8Array, online: boolean): void {
    this.#session?.presence(id, online);
  }

  /** SessionHandle: send an ERROR frame (when the link is up), then close. */
  terminate(code: ErrorCode, reason: string): void {
    if (this.#state === "closed") return;
    const session = this.#session;
    const ch = session?.channel;
    const wasOpen = this.#state === "open";
    this.#state = "closed";
    this.#detach();
    this.#endPending();
    if (wasOpen && ch && !ch.failed) {
      const ack = session!.takeAck(); // delivered SENDs are answered before the link goes
      if (ack) ch.push(ack);
      ch.push(encodeFrame({ type: "error", code, reason }));
      ch.drained().then(() => this.#closeSocketNow(closeCode(code), code));
    } else {
      this.#closeSocketNow(closeCode(code), code);
    }
  }

  #closeSocketNow(code: number, reason: string): void {
    this.#session?.channel.close();
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
    this.#session?.channel.close();
    this.#detach();
  }
}
