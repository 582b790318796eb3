/**
 * Delivery's incoming side: envelopes from the relay, opened in batches and in arrival order;
 * messages stored and acknowledged in one write, acknowledgements applied to the outbox, and
 * handshakes answered. Used only by delivery.ts (see there for the protocol).
 *
 * @module
 */
import {
  type Envelope,
  isRatchetMessage,
  pad,
  parseEnvelope,
  unpad,
} from "../protocol/envelope.ts";
import { PeerVersionError } from "../protocol/e2e_handshake.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { formatId } from "../protocol/identity.ts";
import { encodePayload, parsePayload, type Payload } from "../protocol/payload.ts";
import type { E2ESession } from "../protocol/session.ts";
import type { DeliveryDeps } from "./delivery.ts";
import type { PendingMessage } from "./messages.ts";
import type { Outgoing } from "./_delivery_outgoing.ts";
import { receiveMessage } from "./_payload_in.ts";
import { isFilePayload, noEffects } from "./files_flow.ts";
import { AckPacer } from "./_ack_pacer.ts";

/** The incoming side of the delivery engine. */
export class Incoming {
  readonly #d: DeliveryDeps;
  readonly #out: Outgoing;
  #incoming: { from: Uint8Array; envelope: Uint8Array }[] = [];
  #incomingScheduled = false;
  /** When each peer's messages are acknowledged (in the write that stores them, or soon after). */
  readonly #acks: AckPacer;

  /** Binds to the daemon's parts and to the outgoing side it acknowledges and answers through. */
  constructor(d: DeliveryDeps, out: Outgoing) {
    this.#d = d;
    this.#out = out;
    this.#acks = new AckPacer(d.now, (peer) => out.ack(peer));
  }

  /** Cancels the acknowledgements arranged for later (the identity changed). */
  reset(): void {
    this.#acks.clear();
  }

  /** Cancels them and arranges none again (the daemon stops: what comes now is acked at once). */
  stop(): void {
    this.#acks.stop();
  }

  /** An envelope from the relay: queued and handled in batches, in arrival order. */
  onDeliver(from: Uint8Array, envelope: Uint8Array): void {
    this.#incoming.push({ from, envelope });
    if (this.#incomingScheduled) return;
    this.#incomingScheduled = true;
    void this.#d.serial.run(async () => {
      this.#incomingScheduled = false;
      await this.#processIncoming(this.#incoming.splice(0));
    }).catch((e) => this.#d.onError(null, e));
  }

  async #processIncoming(batch: { from: Uint8Array; envelope: Uint8Array }[]): Promise<void> {
    const d = this.#d;
    const opened: { peer: string; session: E2ESession; p: Payload }[] = [];
    const kick = new Set<string>();
    for (const { from, envelope } of batch) {
      const peer = formatId(from);
      const kind = d.contacts.kindOf(peer);
      // A blocked id costs nothing: dropped before parsing, handshakes or decryption.
      if (kind === "blocked") continue;
      const stranger = kind !== "contact";
      try {
        if (isRatchetMessage(envelope)) {
          const r = await this.#open(peer, from, envelope, stranger);
          if (r) opened.push({ peer, session: r.session, p: parsePayload(unpad(r.plaintext)) });
          continue;
        }
        let env: Envelope;
        try {
          env = parseEnvelope(envelope);
        } catch {
          continue; // not ours to read: dropped
        }
        // A schied/1 MSG: an older daemon's session, which we never run (its handshake tells).
        if (env.kind === "msg") continue;
        await this.#onHandshake(peer, from, env, stranger);
        kick.add(peer);
      } catch (e) {
        // Tampered, replayed or malformed: rejected, the session stays as it was.
        if (e instanceof PeerVersionError) await this.#peerVersion(peer, e);
        else if ((e as { code?: string }).code === "key_mismatch") d.onError(peer, e);
      }
    }
    // Acknowledgements are sealed inside the write that stores the messages: a pending DH step
    // (the turn changed) is done now, as it cannot run inside a transaction.
    const deps = this.#out.deps();
    for (const o of opened) {
      if (o.p.t !== "a" && o.p.t !== "unknown") await d.sessions.current(o.peer)?.prepare(deps);
    }
    // A file's chunks are opened and written (synced) before the write that counts them.
    const checks = d.files && opened.some((o) => o.p.t === "fc")
      ? await d.files.prepare(opened)
      : new Map();
    if (opened.length > 0) this.#store(opened, kick, checks);
    else for (const peer of kick) await this.#out.pump(peer);
  }

  /**
   * Opens a MSG with one of the peer's sessions. None authenticates it: a session we lost (or a
   * forgery), so a fresh handshake, within budget. Skipped keys are budgeted (the ratchet asks
   * before deriving any, once the header authenticated).
   */
  async #open(peer: string, from: Uint8Array, envelope: Uint8Array, stranger: boolean) {
    const d = this.#d;
    if (!d.sessions.has(peer)) return void await this.#rehandshake(peer, from, stranger);
    try {
      return await d.sessions.open(peer, envelope, {
        now: d.now(),
        allowSkip: (keys) => d.budget.skip(peer, keys, stranger),
      });
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "auth_failed" || code === "session_unknown") {
        await this.#rehandshake(peer, from, stranger);
        return undefined;
      }
      throw e;
    }
  }

  /**
   * A peer proved (by its vouch) that it runs schied/1, which this release never falls back to:
   * an `error` event naming it; as the dialing side, our messages to it fail with `peer_version`
   * instead of waiting forever.
   */
  async #peerVersion(peer: string, e: PeerVersionError): Promise<void> {
    const d = this.#d;
    const who = d.contacts.get(peer)?.name ?? peer;
    if (e.role === "responder") {
      d.onError(
        peer,
        new ProtocolError(
          "peer_version",
          `${who} tried to reach you with an older schied (end-to-end version 1); ` +
            `its messages cannot be read until it upgrades`,
        ),
      );
      return;
    }
    const failed = await d.store.write(() => {
      const pending = d.outbox.pending(peer, 0, Number.MAX_SAFE_INTEGER);
      for (const m of pending) d.messages.markFailed(m, "peer_version");
      return pending;
    });
    d.outbox.remove(failed);
    this.#out.forget(peer);
    d.onError(
      peer,
      new ProtocolError(
        "peer_version",
        `${who} runs an older schied (end-to-end version 1), which this release does not ` +
          `speak; ${failed.length} queued message(s) to ${who} failed — ask ${who} to upgrade`,
      ),
    );
  }

  /** Stores what the batch opened, and the acknowledgements, in one write; then acts on it. */
  #store(
    opened: { peer: string; session: E2ESession; p: Payload }[],
    kick: Set<string>,
    checks: Map<Payload, "ok" | "bad" | "skip">,
  ): void {
    const d = this.#d;
    const now = d.now();
    d.store.write(() => {
      const needAck = new Map<string, number>(); // payloads to acknowledge, per peer
      const owe = (peer: string) => needAck.set(peer, (needAck.get(peer) ?? 0) + 1);
      const fx = noEffects();
      const acks: { peer: string; upto: number; covered: PendingMessage[] }[] = [];
      // Each session advanced by the batch is stored once, at the end (its state is sealed
      // whole: per message, that was an eighth of a busy receiver's time).
      const dirty = new Map<E2ESession, string>();
      for (const { peer, session, p } of opened) {
        dirty.set(session, peer);
        if (p.t === "m") {
          if (receiveMessage(d, peer, p, now)) owe(peer);
          // A rotation may have moved queued messages to this sender: they go at once.
          if (p.rot) kick.add(peer);
        } else if (p.t === "a") {
          const covered = d.outbox.upTo(peer, p.upto);
          d.messages.markDelivered(peer, covered);
          d.files?.delivered(covered);
          acks.push({ peer, upto: p.upto, covered });
        } else if (isFilePayload(p) && d.files) {
          const stranger = d.contacts.kindOf(peer) !== "contact";
          if (stranger && d.contacts.kindOf(peer) === undefined && p.t === "fo") {
            d.requests.admit(peer); // a stranger's file: a message request, held
          }
          if (d.files.receive(fx, peer, p, stranger, checks)) owe(peer);
        }
      }
      // Acknowledge only what this write makes durable: one cumulative ack per peer, sealed
      // here so that the session's advanced state commits with it — unless the pacer defers it
      // (a burst goes on: at most one ack per E2E_ACK_DELAY_MS, see _ack_pacer.ts).
      const out: { peer: string; envelope: Uint8Array }[] = [];
      const later: string[] = [];
      for (const [peer, n] of needAck) {
        const session = d.sessions.current(peer);
        if (!session || !this.#acks.due(peer, n)) continue;
        if (session.needsStep) { // a newer message changed the turn since prepare: after
          later.push(peer);
          continue;
        }
        const upto = d.messages.nextRecvSeq(peer) - 1;
        const envelope = session.sealSync(pad(encodePayload({ t: "a", upto })), this.#out.deps());
        dirty.set(session, peer);
        out.push({ peer, envelope });
      }
      for (const [session, peer] of dirty) d.sessions.save(peer, session);
      return { acks, out, later, fx };
    }).then(({ acks, out, later, fx }) => {
      d.files?.apply(fx);
      for (const peer of later) this.#out.ack(peer);
      for (const { peer, upto, covered } of acks) this.#acknowledged(peer, upto, covered, now);
      for (const a of acks) kick.add(a.peer);
      for (const { peer, envelope } of out) this.#out.send(this.#out.state(peer), envelope, null);
      for (const peer of kick) this.#out.kick(peer);
    }, (e) => d.onError(null, e));
  }

  #acknowledged(peer: string, upto: number, covered: PendingMessage[], now: number): void {
    const s = this.#out.state(peer);
    this.#d.outbox.remove(covered);
    if (upto > s.acked) {
      s.acked = upto;
      s.probe = false;
      if (s.sent < s.acked) s.sent = s.acked;
      s.lastProgress = now;
    } else if (s.sent > s.acked && now - s.lastProgress > 500) {
      this.#out.rewind(s); // the peer is stuck at a gap: resend from it
    }
  }

  /** Starts a handshake the peer's envelope asked for (an unknown session), within budget. */
  async #rehandshake(peer: string, from: Uint8Array, stranger: boolean): Promise<void> {
    const d = this.#d;
    if (d.sessions.handshakePending(peer) || d.relay()?.state !== "online") return;
    if (!d.budget.handshake(peer, stranger)) return;
    this.#out.send(this.#out.state(peer), await d.sessions.startHandshake(peer, from), null, true);
  }

  async #onHandshake(
    peer: string,
    from: Uint8Array,
    env: Envelope,
    stranger: boolean,
  ): Promise<void> {
    const d = this.#d;
    // Answering an HS1 costs a key generation and DHs: budgeted (HS2 and HS3 are only read
    // for a handshake this daemon is waiting for).
    if (env.kind === "hs1" && !d.budget.handshake(peer, stranger)) return;
    const out = await d.sessions.handshake(peer, from, env);
    if (out.established) {
      const { session, peerIdentityKey } = out.established;
      await d.store.write(() => {
        if (d.contacts.kindOf(peer) === undefined) d.requests.admit(peer);
        d.contacts.pin(peer, peerIdentityKey);
        d.sessions.install(peer, session);
      });
      this.#out.rewind(this.#out.state(peer));
    }
    if (out.reply) this.#out.send(this.#out.state(peer), out.reply, null);
  }
}
