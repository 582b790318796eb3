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

  /**
   * The login rules (protocol README 9.1), in order. The registry may answer later (a cluster's
   * is in Redis): the link may close meanwhile, and the slot check runs again after it.
   */
  async #login(login: LinkLogin): Promise<void> {
    if (this.#state !== "busy") return;
    const ctx = this.#ctx;
    const now = ctx.now();
    // 1. A session slot must be available (per-IP cap; global cap unless some source holds more
    // than this one). Checked before the registry, so that a full relay answers server_busy to
    // registered and unregistered ids alike; nothing is evicted yet.
    if (this.#slotRefusal(login) !== undefined) return;
    // 2. The registry may refuse the id (closed registration, or a key that differs).
    let known;
    try {
      known = await ctx.registry.lookup(login.clientId);
    } catch (e) {
      return this.#internal(e);
    }
    if (this.#state !== "busy") return; // closed while the registry answered
    if (known && !constantTimeEqual(known.publicKey, login.identityKey)) {
      return this.#authFail("bad_message"); // a second preimage of the id; never overwritten
    }
    if (!known && !ctx.openRegistration) return this.#authFail("bad_message");
    // 3. Take the slot (evicting the biggest source's newest session if the relay is full).
    const replacing = this.#slotRefusal(login);
    if (replacing === null) return;
    if (replacing) ctx.sessions.release(replacing);
    if (ctx.sessions.admit(this, "newest") !== "ok") return this.#busy("sessions_full");
    // 4. Register a new id.
    let registered = false;
    if (!known) {
      try {
        const r = await ctx.registry.register(login.clientId, login.identityKey);
        if (this.#state !== "busy") return void ctx.sessions.release(this);
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

  /**
   * Rule 1: null when refused (answered `server_busy`), else the session of this id to replace
   * (which keeps the total; only the per-IP cap can refuse it), or undefined.
   */
  #slotRefusal(login: LinkLogin): RelayLink | undefined | null {
    const ctx = this.#ctx;
    const old = ctx.hub.get(idKey(login.clientId));
    const replacing = old instanceof RelayLink && ctx.sessions.has(old) ? old : undefined;
    if (replacing) {
      if (
        replacing.source !== this.source &&
        ctx.sessions.countOf(this.source) >= ctx.limits.maxSessionsPerIp
      ) {
        this.#busy("sessions_per_ip");
        return null;
      }
      return replacing;
    }
    const check = ctx.sessions.check(this);
    if (check !== "ok") {
      this.#busy(check === "full" ? "sessions_full" : "sessions_per_ip");
      return null;
    }
    return undefined;
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
