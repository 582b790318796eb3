/**
 * Delivery: moves the outbox to peers and incoming envelopes into the journal, exactly once and
 * in order.
 *
 * Sending is go-back-N per peer: messages go out in sequence, at most WINDOW beyond the last
 * acknowledged one; when the peer acknowledges (end to end, after its journal write), they are
 * `delivered`; after a reconnect, a presence change, a new session or RETRY_MS without progress,
 * sending resumes from the first unacknowledged message. Each try is sealed afresh under the
 * session's next key, so a retry is never a replay. The receiver stores only the next expected
 * sequence number, drops what comes early and re-acknowledges what it already has.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { concat } from "../protocol/bytes.ts";
import { type Envelope, pad, parseEnvelope, unpad } from "../protocol/envelope.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { formatId, parseId } from "../protocol/identity.ts";
import { encodePayload, parsePayload, type Payload } from "../protocol/payload.ts";
import { MAX_SKIP } from "../protocol/constants.ts";
import { E2ESession } from "../protocol/session.ts";
import type { WorkBudget } from "./budget.ts";
import type { Contacts } from "./contacts.ts";
import type { Requests } from "./requests.ts";
import type { Journal } from "./journal.ts";
import type { Messages } from "./messages.ts";
import type { RelayClient } from "./relay_client.ts";
import type { Serial } from "./_serial.ts";
import type { SessionManager } from "./sessions.ts";
import { ServiceError } from "./service.ts";

/** Most unacknowledged messages in flight per peer. */
export const WINDOW = 256;
/** Resend from the first unacknowledged message after this long without progress. */
export const RETRY_MS = 3000;
/** A peer reported offline is tried again after this long even without a presence event. */
export const OFFLINE_RETRY_MS = 30_000;

interface PeerState {
  peer: string;
  peerId: Uint8Array;
  online: boolean | null;
  /**
   * Back from offline without news: send one message (a probe) rather than a window, so a
   * peer that is still away does not cost the session a window of counters per retry.
   */
  probe: boolean;
  sentUpTo: number;
  ackedUpTo: number;
  lastProgress: number;
  offlineSince: number;
}

/** What delivery needs from the daemon. */
export interface DeliveryDeps {
  db: DatabaseSync;
  messages: Messages;
  contacts: Contacts;
  sessions: SessionManager;
  journal: Journal;
  requests: Requests;
  /** Budgets of unauthenticated work (handshakes, skipped keys). */
  budget: WorkBudget;
  /** Yields to the event loop between slices of key derivation. */
  pause: () => Promise<void>;
  serial: Serial;
  /** Runs `fn` in one transaction and then publishes its journal events. */
  write<T>(fn: () => T): T;
  relay: () => RelayClient | undefined;
  me: () => Uint8Array;
  now: () => number;
}

/** The delivery engine of one identity. */
export class Delivery {
  readonly #d: DeliveryDeps;
  readonly #peers = new Map<string, PeerState>();
  #incoming: { from: Uint8Array; envelope: Uint8Array }[] = [];
  #incomingScheduled = false;
  #sentIds: string[] = [];

  /** Binds to the daemon's parts. */
  constructor(d: DeliveryDeps) {
    this.#d = d;
  }

  /** Forgets per-peer state (after an identity change). */
  reset(): void {
    this.#peers.clear();
  }

  #state(peer: string): PeerState {
    let s = this.#peers.get(peer);
    if (!s) {
      const first = this.#d.messages.pending(peer, 0, 1)[0];
      const acked = first ? first.seq - 1 : 0;
      s = {
        peer,
        peerId: parseId(peer),
        online: null,
        probe: false,
        sentUpTo: acked,
        ackedUpTo: acked,
        lastProgress: this.#d.now(),
        offlineSince: 0,
      };
      this.#peers.set(peer, s);
    }
    return s;
  }

  #rewind(s: PeerState): void {
    s.sentUpTo = s.ackedUpTo;
    s.lastProgress = this.#d.now();
  }

  /** Online-ness of a peer as last reported by the relay. */
  online(peer: string): boolean | null {
    return this.#peers.get(peer)?.online ?? null;
  }

  /** Sends what is pending for `peer` (call after accepting a message, or any change). */
  kick(peer: string): void {
    void this.#d.serial.run(() => this.#pump(peer)).catch((e) => this.#error(peer, e));
  }

  /** After (re)connecting to the relay: everything unacknowledged goes again. */
  onRelayOnline(): void {
    for (const s of this.#peers.values()) this.#rewind(s);
    for (const peer of this.#d.messages.peersWithPending()) this.kick(peer);
  }

  /** A presence event from the relay. */
  onPresence(id: Uint8Array, online: boolean): void {
    const peer = formatId(id);
    const s = this.#state(peer);
    if (s.online !== online) {
      this.#d.write(() => this.#d.journal.append("presence", { id: peer, online }));
    }
    s.online = online;
    if (online) {
      s.probe = false;
      this.#rewind(s);
      this.kick(peer);
    } else s.offlineSince = this.#d.now();
  }

  /** Periodic work: resend after RETRY_MS without progress, retry offline peers now and then. */
  tick(): void {
    const now = this.#d.now();
    for (const peer of this.#d.messages.peersWithPending()) {
      const s = this.#state(peer);
      if (s.online === false) {
        if (now - s.offlineSince < OFFLINE_RETRY_MS) continue;
        s.online = null;
        s.probe = true;
      }
      if (now - s.lastProgress >= RETRY_MS) {
        this.#rewind(s);
        this.kick(peer);
      }
    }
  }

  #ad(from: Uint8Array, to: Uint8Array): Uint8Array {
    return concat(from, to);
  }

  async #pump(peer: string): Promise<void> {
    const d = this.#d;
    const rc = d.relay();
    if (!rc || rc.state !== "online") return;
    const s = this.#state(peer);
    if (s.online === false) return;
    const session = d.sessions.current(peer);
    if (!session) {
      if (!d.sessions.handshakePending(peer) && d.messages.pending(peer, 0, 1).length > 0) {
        const hs1 = await d.sessions.startHandshake(peer, s.peerId);
        this.#send(s, hs1, null, true);
      }
      return;
    }
    const room = Math.min(s.probe ? 1 : WINDOW, WINDOW - (s.sentUpTo - s.ackedUpTo));
    if (room <= 0) return;
    const batch = d.messages.pending(peer, s.sentUpTo, room);
    if (batch.length === 0) return;
    const envs: Uint8Array[] = [];
    const ad = this.#ad(d.me(), s.peerId);
    // Everything below the oldest undelivered message was delivered or given up.
    const floor = d.messages.pending(peer, 0, 1)[0]?.seq ?? batch[0]!.seq;
    for (const m of batch) {
      const p = encodePayload({ t: "m", id: m.id, seq: m.seq, ts: m.ts, text: m.text, floor });
      envs.push(await session.seal(pad(p), ad));
    }
    // The advanced chain is on disk before any of these envelopes leaves (no key reuse on crash).
    d.write(() => d.sessions.save(peer, session));
    s.sentUpTo = batch[batch.length - 1]!.seq;
    batch.forEach((m, i) => this.#send(s, envs[i]!, m.id));
  }

  #send(s: PeerState, envelope: Uint8Array, msgId: string | null, hs1 = false): void {
    const rc = this.#d.relay();
    if (!rc) return;
    rc.send(s.peerId, envelope).then((r) => {
      if (r.status === "delivered") {
        if (s.probe) {
          s.probe = false; // the peer is reachable again: the whole window may go
          this.kick(s.peer);
        }
        if (msgId) this.#markSent(msgId);
        return;
      }
      // A first handshake message that never reached the peer: start afresh next time.
      if (hs1) void this.#d.serial.run(() => this.#d.sessions.abandon(s.peer));
      if (r.status === "offline") {
        if (s.online !== false) s.offlineSince = this.#d.now();
        s.online = false;
      }
      this.#rewind(s);
    });
  }

  #markSent(id: string): void {
    this.#sentIds.push(id);
    if (this.#sentIds.length > 1) return; // a flush is already queued
    void this.#d.serial.run(() => {
      const ids = this.#sentIds;
      this.#sentIds = [];
      this.#d.write(() => this.#d.messages.markSent(ids));
    });
  }

  /** An envelope from the relay: queued and handled in batches, in arrival order. */
  onDeliver(from: Uint8Array, envelope: Uint8Array): void {
    this.#incoming.push({ from, envelope });
    if (this.#incomingScheduled) return;
    this.#incomingScheduled = true;
    void this.#d.serial.run(async () => {
      this.#incomingScheduled = false;
      await this.#processIncoming(this.#incoming.splice(0));
    }).catch((e) => this.#error(null, e));
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
      let env: Envelope;
      try {
        env = parseEnvelope(envelope);
      } catch {
        continue; // not ours to read: dropped
      }
      try {
        if (env.kind !== "msg") {
          await this.#onHandshake(peer, from, env, stranger);
          kick.add(peer);
          continue;
        }
        const session = d.sessions.bySid(peer, env.id);
        if (!session) {
          // The peer has a session we lost: start a new one; it resends after.
          await this.#rehandshake(peer, from, stranger);
          continue;
        }
        const n = E2ESession.counterOf(env);
        const gap = n < 0 ? 0 : session.gapTo(n);
        // Too far ahead to bridge: a fresh session, not a long derivation.
        if (gap > MAX_SKIP) {
          await this.#rehandshake(peer, from, stranger);
          continue;
        }
        // Each skipped key is work done before the MSG authenticates: it is budgeted.
        if (gap > 0 && !d.budget.skip(peer, gap, stranger)) continue;
        const plain = await session.open(env, this.#ad(from, d.me()), d.pause);
        opened.push({ peer, session, p: parsePayload(unpad(plain)) });
      } catch (e) {
        // Tampered, replayed or malformed: rejected, the session stays as it was.
        const code = (e as { code?: string }).code;
        if (code === "key_mismatch") this.#error(peer, e);
      }
    }
    if (opened.length === 0 && kick.size === 0) return;
    const needAck = new Set<string>();
    const now = d.now();
    d.write(() => {
      for (const { peer, session, p } of opened) {
        d.sessions.save(peer, session);
        if (p.t === "m") {
          const kind = d.contacts.kindOf(peer);
          if (kind === "blocked") continue;
          // Someone who is not a contact writes: a message request, not a new contact.
          if (kind === undefined) d.requests.admit(peer);
          const outcome = d.messages.receive(peer, p, now, kind !== "contact");
          if (outcome !== "held") needAck.add(peer);
        } else if (p.t === "a") {
          const s = this.#state(peer);
          if (p.upto > s.ackedUpTo) {
            d.messages.markDelivered(peer, p.upto);
            s.ackedUpTo = p.upto;
            s.probe = false;
            if (s.sentUpTo < s.ackedUpTo) s.sentUpTo = s.ackedUpTo;
            s.lastProgress = now;
          } else if (s.sentUpTo > s.ackedUpTo && now - s.lastProgress > 500) {
            this.#rewind(s); // the peer is stuck at a gap: resend from it
          }
          kick.add(peer);
        }
      }
    });
    // Acknowledge only what is durable now; one cumulative ack per peer.
    for (const peer of needAck) await this.#ack(peer);
    for (const peer of kick) await this.#pump(peer);
  }

  /** Starts a handshake the peer's envelope asked for (an unknown session), within budget. */
  async #rehandshake(peer: string, from: Uint8Array, stranger: boolean): Promise<void> {
    const d = this.#d;
    if (d.sessions.handshakePending(peer) || d.relay()?.state !== "online") return;
    if (!d.budget.handshake(peer, stranger)) return;
    this.#send(this.#state(peer), await d.sessions.startHandshake(peer, from), null, true);
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
      d.write(() => {
        if (d.contacts.kindOf(peer) === undefined) d.requests.admit(peer);
        d.contacts.pin(peer, peerIdentityKey);
        d.sessions.install(peer, session);
      });
      this.#rewind(this.#state(peer));
    }
    if (out.reply) this.#send(this.#state(peer), out.reply, null);
  }

  async #ack(peer: string): Promise<void> {
    const d = this.#d;
    const session = d.sessions.current(peer);
    if (!session) return;
    const upto = d.messages.nextRecvSeq(peer) - 1;
    const env = await session.seal(
      pad(encodePayload({ t: "a", upto })),
      this.#ad(d.me(), parseId(peer)),
    );
    d.write(() => d.sessions.save(peer, session));
    this.#send(this.#state(peer), env, null);
  }

  #error(peer: string | null, e: unknown): void {
    const code = e instanceof ProtocolError || e instanceof ServiceError ? e.code : "internal";
    this.#d.write(() =>
      this.#d.journal.append("error", { code, message: (e as Error).message, peer })
    );
  }
}
