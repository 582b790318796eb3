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
 * Every state change is a store operation (group commit); what this engine keeps in memory (the
 * outbox index, each peer's progress) changes only once that operation has committed.
 *
 * @module
 */
import { concat } from "../protocol/bytes.ts";
import { MAX_SKIP } from "../protocol/constants.ts";
import { type Envelope, pad, parseEnvelope, unpad } from "../protocol/envelope.ts";
import { formatId, parseId } from "../protocol/identity.ts";
import { encodePayload, parsePayload, type Payload } from "../protocol/payload.ts";
import { E2ESession } from "../protocol/session.ts";
import type { Contacts } from "./contacts.ts";
import type { WorkBudget } from "./budget.ts";
import type { Messages, PendingMessage } from "./messages.ts";
import type { Outbox } from "./outbox.ts";
import type { Requests } from "./requests.ts";
import type { Self } from "./self.ts";
import type { SessionManager } from "./sessions.ts";
import type { Serial } from "./_serial.ts";
import type { Store } from "./store.ts";
import type { RelayState } from "./service.ts";

/** Most unacknowledged messages in flight per peer. */
export const WINDOW = 256;
/** Resend from the first unacknowledged message after this long without progress. */
export const RETRY_MS = 3000;
/** A peer reported offline is tried again after this long even without a presence event. */
export const OFFLINE_RETRY_MS = 30_000;

/** The relay's answer to one SEND, as delivery reads it. */
export interface SendOutcome {
  status: "delivered" | "offline" | "rejected";
}

/** What delivery needs of the relay connection (a fake in unit tests). */
export interface RelayPort {
  readonly state: RelayState;
  /**
   * SENDs the link takes now before refusing them as busy (LinkClient.room). Delivery seals no
   * more than this: a refused envelope would have spent a message key for nothing.
   */
  readonly room: number;
  send(to: Uint8Array, envelope: Uint8Array): Promise<SendOutcome>;
}

/** One peer's send progress (memory; every field changes after its write committed). */
interface PeerState {
  peer: string;
  peerId: Uint8Array;
  online: boolean | null;
  /**
   * Back from offline without news: send one message (a probe) rather than a window, so a
   * peer that is still away does not cost the session a window of counters per retry.
   */
  probe: boolean;
  /** Every message up to this seq is acknowledged (delivered). */
  acked: number;
  /** The go-back-N pointer: messages up to this seq were handed to the relay in this round. */
  sent: number;
  /** A sealed batch is waiting for its write to commit. */
  sealing: boolean;
  lastProgress: number;
  offlineSince: number;
}

/** What delivery needs from the daemon. */
export interface DeliveryDeps {
  store: Store;
  self: Self;
  messages: Messages;
  outbox: Outbox;
  contacts: Contacts;
  sessions: SessionManager;
  requests: Requests;
  /** Budgets of unauthenticated work (handshakes, skipped keys). */
  budget: WorkBudget;
  /** Yields to the event loop between slices of key derivation. */
  pause: () => Promise<void>;
  serial: Serial;
  relay: () => RelayPort | undefined;
  now: () => number;
  /** Records a failure worth an `error` event (a key mismatch, an internal error). */
  onError: (peer: string | null, e: unknown) => void;
}

/** The delivery engine of the current identity. */
export class Delivery {
  readonly #d: DeliveryDeps;
  readonly #peers = new Map<string, PeerState>();
  #incoming: { from: Uint8Array; envelope: Uint8Array }[] = [];
  #incomingScheduled = false;
  #sentQueue: PendingMessage[] = [];
  /** Envelopes sealed for the link and not yet handed to it (they take room when they are). */
  #reserved = 0;
  /** Peers that stopped for want of room on the link: kicked as sends are answered. */
  readonly #waitingRoom = new Set<string>();

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
      const first = this.#d.outbox.first(peer);
      const acked = first ? first.seq - 1 : 0;
      s = {
        peer,
        peerId: parseId(peer),
        online: null,
        probe: false,
        acked,
        sent: acked,
        sealing: false,
        lastProgress: this.#d.now(),
        offlineSince: 0,
      };
      this.#peers.set(peer, s);
    }
    return s;
  }

  #rewind(s: PeerState): void {
    s.sent = s.acked;
    s.lastProgress = this.#d.now();
  }

  /** Online-ness of a peer as last reported by the relay. */
  online(peer: string): boolean | null {
    return this.#peers.get(peer)?.online ?? null;
  }

  /** Sends what is pending for `peer` (call after accepting a message, or any change). */
  kick(peer: string): void {
    void this.#d.serial.run(() => this.#pump(peer)).catch((e) => this.#d.onError(peer, e));
  }

  /** After (re)connecting to the relay: everything unacknowledged goes again. */
  onRelayOnline(): void {
    for (const s of this.#peers.values()) this.#rewind(s);
    for (const peer of this.#d.outbox.peers()) this.kick(peer);
  }

  /** A presence event from the relay; returns true if it changed what was known. */
  onPresence(id: Uint8Array, online: boolean): boolean {
    const s = this.#state(formatId(id));
    const changed = s.online !== online;
    s.online = online;
    if (online) {
      s.probe = false;
      this.#rewind(s);
      this.kick(s.peer);
    } else s.offlineSince = this.#d.now();
    return changed;
  }

  /** Periodic work: resend after RETRY_MS without progress, probe offline peers now and then. */
  tick(): void {
    const now = this.#d.now();
    for (const peer of this.#d.outbox.peers()) {
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
    if (s.online === false || s.sealing) return;
    const session = d.sessions.current(peer);
    if (!session) {
      if (!d.sessions.handshakePending(peer) && d.outbox.first(peer)) {
        const hs1 = await d.sessions.startHandshake(peer, s.peerId);
        this.#send(s, hs1, null, true);
      }
      return;
    }
    const window = Math.min(s.probe ? 1 : WINDOW, WINDOW - (s.sent - s.acked));
    const room = Math.min(window, rc.room - this.#reserved);
    if (room <= 0) {
      if (window > 0) this.#waitingRoom.add(peer);
      return;
    }
    const batch = d.outbox.pending(peer, s.sent, room);
    if (batch.length === 0) return;
    const ad = this.#ad(d.self.id, s.peerId);
    // Everything below the oldest undelivered message was delivered or given up.
    const floor = d.outbox.first(peer)!.seq;
    const envs = batch.map((m) =>
      session.sealSync(
        pad(encodePayload({ t: "m", id: m.id, seq: m.seq, ts: m.ts, text: m.text, floor })),
        ad,
      )
    );
    // The advanced chain is on disk before any of these envelopes leaves (no key reuse on crash).
    s.sealing = true;
    this.#reserved += batch.length;
    d.store.write(() => d.sessions.save(peer, session)).then(() => {
      s.sealing = false;
      this.#reserved -= batch.length;
      s.sent = Math.max(s.sent, batch[batch.length - 1]!.seq);
      // A message cancelled (or failed) while its batch was sealed stays unsent.
      batch.forEach((m, i) => {
        if (d.outbox.get(m.id) === m) this.#send(s, envs[i]!, m);
      });
      if (batch.length === room && !s.probe) {
        if (room < window) this.#waitingRoom.add(peer);
        else this.kick(peer);
      }
    }, (e) => {
      s.sealing = false;
      this.#reserved -= batch.length;
      d.onError(peer, e);
    });
  }

  /**
   * Seals a message inside the store operation that accepts it, when it is simply the next to go
   * (a session, the relay online, the window open, nothing before it unsent): its session state
   * then commits with the message, one fsync instead of two, and it leaves at once. Returns what
   * to call once the operation has committed (`go`), or if it failed or ran again (`cancel`: the
   * room it took on the link is given back), or undefined (the pump sends it as usual).
   */
  sealAccepted(m: PendingMessage): { go(): void; cancel(): void } | undefined {
    const d = this.#d;
    const rc = d.relay();
    if (rc?.state !== "online" || rc.room - this.#reserved < 1) return undefined;
    const s = this.#state(m.peer);
    if (s.online === false || s.probe || s.sealing || s.sent !== m.seq - 1) return undefined;
    if (m.seq - s.acked > WINDOW) return undefined;
    const session = d.sessions.current(m.peer);
    if (!session) return undefined;
    const floor = d.outbox.first(m.peer)?.seq ?? m.seq;
    const envelope = session.sealSync(
      pad(encodePayload({ t: "m", id: m.id, seq: m.seq, ts: m.ts, text: m.text, floor })),
      this.#ad(d.self.id, s.peerId),
    );
    d.sessions.save(m.peer, session);
    this.#reserved++;
    let taken = false;
    const take = () => {
      if (taken) return false;
      taken = true;
      this.#reserved--;
      return true;
    };
    return {
      go: () => {
        if (!take()) return;
        if (s.sent !== m.seq - 1) return this.kick(m.peer); // a rewind meanwhile: the pump decides
        s.sent = m.seq;
        this.#send(s, envelope, m);
      },
      cancel: () => void take(),
    };
  }

  #send(s: PeerState, envelope: Uint8Array, m: PendingMessage | null, hs1 = false): void {
    const rc = this.#d.relay();
    if (!rc) return;
    rc.send(s.peerId, envelope).then((r) => {
      this.#roomFreed();
      if (r.status === "delivered") {
        if (s.probe) {
          s.probe = false; // the peer is reachable again: the whole window may go
          this.kick(s.peer);
        }
        if (m && m.status === "queued") this.#markSent(m);
        return;
      }
      // A first handshake message that never reached the peer: start afresh next time.
      if (hs1) void this.#d.serial.run(() => this.#d.sessions.abandon(s.peer));
      if (r.status === "offline") {
        if (s.online !== false) s.offlineSince = this.#d.now();
        s.online = false;
      }
      this.#rewind(s); // offline, or rejected (recipient_busy, …): retried later
    });
  }

  /** An answer freed room on the link: the peers waiting for some go on. */
  #roomFreed(): void {
    if (this.#waitingRoom.size === 0) return;
    const peers = [...this.#waitingRoom];
    this.#waitingRoom.clear();
    for (const p of peers) this.kick(p);
  }

  #markSent(m: PendingMessage): void {
    this.#sentQueue.push(m);
    if (this.#sentQueue.length > 1) return; // joins the write already queued
    const d = this.#d;
    let ms: PendingMessage[] | undefined;
    void d.store.write(() => {
      ms ??= this.#sentQueue.splice(0); // taken once: the write may run twice (store.ts)
      d.messages.markSent(ms);
      return ms;
    }).then((ms) => {
      for (const x of ms) x.status = "sent";
    }, (e) => d.onError(null, e));
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
        const n = E2ESession.counterOf(env);
        const gap = session && n >= 0 ? session.gapTo(n) : 0;
        // A session we lost, or a counter too far ahead to bridge: a fresh session.
        if (!session || gap > MAX_SKIP) {
          await this.#rehandshake(peer, from, stranger);
          continue;
        }
        // Each skipped key is work done before the MSG authenticates: it is budgeted.
        if (gap > 0 && !d.budget.skip(peer, gap, stranger)) continue;
        const plain = await session.open(env, this.#ad(from, d.self.id), d.pause);
        opened.push({ peer, session, p: parsePayload(unpad(plain)) });
      } catch (e) {
        // Tampered, replayed or malformed: rejected, the session stays as it was.
        if ((e as { code?: string }).code === "key_mismatch") d.onError(peer, e);
      }
    }
    if (opened.length > 0) this.#store(opened, kick);
    else for (const peer of kick) await this.#pump(peer);
  }

  /** Stores what the batch opened, and the acknowledgements, in one write; then acts on it. */
  #store(opened: { peer: string; session: E2ESession; p: Payload }[], kick: Set<string>): void {
    const d = this.#d;
    const now = d.now();
    d.store.write(() => {
      const needAck = new Set<string>();
      const acks: { peer: string; upto: number; covered: PendingMessage[] }[] = [];
      for (const { peer, session, p } of opened) {
        d.sessions.save(peer, session);
        if (p.t === "m") {
          const kind = d.contacts.kindOf(peer);
          if (kind === "blocked") continue;
          // Someone who is not a contact writes: a message request, not a new contact.
          if (kind === undefined) d.requests.admit(peer);
          if (d.messages.receive(peer, p, now, kind !== "contact") !== "held") needAck.add(peer);
        } else if (p.t === "a") {
          const covered = d.outbox.upTo(peer, p.upto);
          d.messages.markDelivered(peer, covered);
          acks.push({ peer, upto: p.upto, covered });
        }
      }
      // Acknowledge only what this write makes durable: one cumulative ack per peer, sealed
      // here so that the session's advanced state commits with it.
      const out: { peer: string; envelope: Uint8Array }[] = [];
      for (const peer of needAck) {
        const session = d.sessions.current(peer);
        if (!session) continue;
        const upto = d.messages.nextRecvSeq(peer) - 1;
        const envelope = session.sealSync(
          pad(encodePayload({ t: "a", upto })),
          this.#ad(d.self.id, parseId(peer)),
        );
        d.sessions.save(peer, session);
        out.push({ peer, envelope });
      }
      return { acks, out };
    }).then(({ acks, out }) => {
      for (const { peer, upto, covered } of acks) this.#acknowledged(peer, upto, covered, now);
      for (const a of acks) kick.add(a.peer);
      for (const { peer, envelope } of out) this.#send(this.#state(peer), envelope, null);
      for (const peer of kick) this.kick(peer);
    }, (e) => d.onError(null, e));
  }

  #acknowledged(peer: string, upto: number, covered: PendingMessage[], now: number): void {
    const s = this.#state(peer);
    this.#d.outbox.remove(covered);
    if (upto > s.acked) {
      s.acked = upto;
      s.probe = false;
      if (s.sent < s.acked) s.sent = s.acked;
      s.lastProgress = now;
    } else if (s.sent > s.acked && now - s.lastProgress > 500) {
      this.#rewind(s); // the peer is stuck at a gap: resend from it
    }
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
      await d.store.write(() => {
        if (d.contacts.kindOf(peer) === undefined) d.requests.admit(peer);
        d.contacts.pin(peer, peerIdentityKey);
        d.sessions.install(peer, session);
      });
      this.#rewind(this.#state(peer));
    }
    if (out.reply) this.#send(this.#state(peer), out.reply, null);
  }

  /**
   * Cancels an outgoing message (Messages.cancel: failed, reason `cancelled`). A store operation
   * like delivery's own: whichever commits first wins (a delivered message is refused, a
   * cancelled one is never marked delivered), and the outbox index changes only after the
   * commit. Nothing that left the index is sent again (see #pump); an envelope the relay has
   * already taken may still reach the peer.
   */
  async cancel(id: string): Promise<void> {
    await this.#d.store.write(() => this.#d.messages.cancel(id));
    const m = this.#d.outbox.get(id);
    if (m) this.#d.outbox.remove([m]);
  }

  /** Fails messages not delivered in time (called by the engine's timer). */
  giveUp(cutoff: number, reason: string): void {
    const d = this.#d;
    const expired = d.outbox.expired(cutoff);
    if (expired.length === 0) return;
    void d.store.write(() => {
      for (const m of expired) d.messages.markFailed(m, reason);
    }).then(() => d.outbox.remove(expired), (e) => d.onError(null, e));
  }
}
