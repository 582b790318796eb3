/**
 * Delivery's outgoing side: each peer's send progress, the go-back-N pump that seals the outbox
 * under the peer's session and hands it to the relay, and the bookkeeping of the relay's answers.
 * Used only by delivery.ts (see there for the protocol).
 *
 * @module
 */
import { pad } from "../protocol/envelope.ts";
import { parseId } from "../protocol/identity.ts";
import { encodePayload } from "../protocol/payload.ts";
import type { RatchetDeps } from "../protocol/ratchet.ts";
import type { DeliveryDeps } from "./delivery.ts";
import type { PendingMessage } from "./messages.ts";
import { messagePayload } from "./_payload_out.ts";

/** Most unacknowledged messages in flight per peer. */
export const WINDOW = 256;
/**
 * Most unacknowledged payloads in flight per peer while a file's chunks are among them. Why 64:
 * 64 chunk envelopes (63 KB each) are 4 MB, half the relay's default queue per recipient
 * (`maxQueueBytes`, 8 MiB), so a transfer never fills it (`recipient_busy`) and the relay's
 * byte rate (64 MiB/s) is far above what one window per round trip sends.
 */
export const FILE_WINDOW = 64;
/** Resend from the first unacknowledged message after this long without progress. */
export const RETRY_MS = 3000;
/** A peer reported offline is tried again after this long even without a presence event. */
export const OFFLINE_RETRY_MS = 30_000;
/**
 * After a SEND refused as busy (the recipient's queue at the relay is full, or a cluster node's
 * Redis is away), nothing more goes to that peer for this long; the next tick after it resends
 * the window. Why: a refusal rewinds the window, and every message accepted meanwhile kicked
 * the pump, which sent the whole window again — 13× the traffic during a Redis outage (about
 * 1,300 envelopes for 100 messages). Why 500 ms: with the 1 s tick, sending resumes within
 * ~1.5 s of the relay taking envelopes again.
 */
export const BUSY_HOLD_MS = 500;

/** One peer's send progress (memory; every field changes after its write committed). */
export interface PeerState {
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
  /**
   * Messages sealed inside accepting writes that have not committed yet (sealAccepted), and the
   * highest seq among them: the next accepted message may follow them in the same batch.
   */
  accepting: number;
  acceptedTo: number;
  lastProgress: number;
  offlineSince: number;
  /** Nothing is sent before this time (a refusal as busy: BUSY_HOLD_MS); 0: no hold. */
  heldUntil: number;
}

/** The outgoing side of the delivery engine, and every peer's progress. */
export class Outgoing {
  readonly #d: DeliveryDeps;
  /** Each peer's send progress, by peer id. */
  readonly peers = new Map<string, PeerState>();
  #sentQueue: PendingMessage[] = [];
  /** Envelopes sealed for the link and not yet handed to it (they take room when they are). */
  #reserved = 0;
  /** Peers that stopped for want of room on the link: kicked as sends are answered. */
  readonly #waitingRoom = new Set<string>();

  /** Binds to the daemon's parts. */
  constructor(d: DeliveryDeps) {
    this.#d = d;
  }

  /** The progress of `peer`, created from the outbox on first use. */
  state(peer: string): PeerState {
    let s = this.peers.get(peer);
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
        accepting: 0,
        acceptedTo: 0,
        lastProgress: this.#d.now(),
        offlineSince: 0,
        heldUntil: 0,
      };
      this.peers.set(peer, s);
    }
    return s;
  }

  /** Go back: sending resumes from the first unacknowledged message. */
  rewind(s: PeerState): void {
    s.sent = s.acked;
    s.lastProgress = this.#d.now();
  }

  /** Sends what is pending for `peer` (call after accepting a message, or any change). */
  kick(peer: string): void {
    void this.#d.serial.run(() => this.pump(peer)).catch((e) => this.#d.onError(peer, e));
  }

  /** What sealing needs from outside (the ratchet binds both ids and the handshake itself). */
  deps(): RatchetDeps {
    return { now: this.#d.now() };
  }

  /** Forgets `peer`'s progress (its outbox changed under it): rebuilt from the outbox. */
  forget(peer: string): void {
    this.peers.delete(peer);
  }

  /**
   * Sends `peer` a cumulative acknowledgement of what is stored, outside the write that stored
   * it (when that write could not seal one: a DH step was pending).
   */
  ack(peer: string): void {
    const d = this.#d;
    void d.serial.run(async () => {
      const session = d.sessions.current(peer);
      if (!session) return;
      await session.prepare(this.deps());
      const envelope = await d.store.write(() => {
        const upto = d.messages.nextRecvSeq(peer) - 1;
        const env = session.sealSync(pad(encodePayload({ t: "a", upto })), this.deps());
        d.sessions.save(peer, session);
        return env;
      });
      this.send(this.state(peer), envelope, null);
    }).catch((e) => d.onError(peer, e));
  }

  /** Seals and sends the next batch for `peer` (or starts a handshake); run in the serial queue. */
  async pump(peer: string): Promise<void> {
    const d = this.#d;
    const rc = d.relay();
    if (!rc || rc.state !== "online") return;
    // A verified contact's key change waits for the user: its queue stays (verify kicks it).
    if (d.contacts.get(peer)?.keyChanged) return;
    const s = this.state(peer);
    if (s.online === false || s.sealing || d.now() < s.heldUntil) return;
    const session = d.sessions.current(peer);
    if (!session) {
      if (!d.sessions.handshakePending(peer) && d.outbox.first(peer)) {
        const hs1 = await d.sessions.startHandshake(peer, s.peerId);
        this.send(s, hs1, null, true);
      }
      return;
    }
    const window = Math.min(s.probe ? 1 : WINDOW, WINDOW - (s.sent - s.acked));
    const room = Math.min(window, rc.room - this.#reserved);
    if (room <= 0) {
      if (window > 0) this.#waitingRoom.add(peer);
      return;
    }
    let batch = d.outbox.pending(peer, s.sent, room);
    const chunkRoom = FILE_WINDOW - (s.sent - s.acked);
    if (chunkRoom < batch.length && batch.some((m) => (m.part ?? -1) >= 0)) {
      batch = batch.slice(0, Math.max(0, chunkRoom)); // chunks: a narrower window (FILE_WINDOW)
    }
    if (batch.length === 0) return;
    const deps = this.deps();
    await session.prepare(deps); // a DH step if the turn changed (nothing runs in between)
    // Everything below the oldest undelivered message was delivered or given up.
    const floor = d.outbox.first(peer)!.seq;
    // Every payload is made (a chunk read from the store) before any key is spent on one.
    const plains = batch.map((m) => pad(encodePayload(this.#payload(m, floor))));
    const envs = plains.map((plain) => session.sealSync(plain, deps));
    // The advanced chain is on disk before any of these envelopes leaves (no key reuse on crash).
    s.sealing = true;
    this.#reserved += batch.length;
    d.store.write(() => d.sessions.save(peer, session)).then(() => {
      s.sealing = false;
      this.#reserved -= batch.length;
      s.sent = Math.max(s.sent, batch[batch.length - 1]!.seq);
      // A message cancelled (or failed) while its batch was sealed stays unsent.
      batch.forEach((m, i) => {
        if (d.outbox.get(m.id) === m) this.send(s, envs[i]!, m);
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
    if (rc?.state !== "online" || rc.room - this.#reserved < 1 || m.file) return undefined;
    if (d.contacts.get(m.peer)?.keyChanged) return undefined; // held (see pump)
    const s = this.state(m.peer);
    // The next to go: right after what was sent, or after a message sealed by an accepting write
    // of the same batch (one per request of a busy sender; each then leaves as its write commits).
    const last = s.accepting > 0 ? s.acceptedTo : s.sent;
    if (s.online === false || s.probe || s.sealing || last !== m.seq - 1) return undefined;
    if (d.now() < s.heldUntil) return undefined;
    if (m.seq - s.acked > WINDOW) return undefined;
    const session = d.sessions.current(m.peer);
    if (!session) return undefined;
    // A pending DH step (the peer spoke since our last send) runs here too, synchronously.
    // Deferred to the pump, it cost a second transaction and sync: the envelope left ~1.9 ms
    // after the accepting commit, now ~0.1 ms (POST → the peer's event ~1 ms sooner at p50,
    // one message at a time; the step itself is ~0.35 ms, ~1 ms with its ML-KEM part). If this
    // write rolls back, the envelope is cancelled and never leaves: the state advanced in memory
    // only skips keys.
    const deps = this.deps();
    session.prepareSync(deps);
    const floor = d.outbox.first(m.peer)?.seq ?? m.seq;
    const envelope = session.sealSync(pad(encodePayload(messagePayload(m, floor))), deps);
    // Saved once per batch, however many of its requests this session sealed: a save seals the
    // whole state at rest and rewrites its row (~4 % of daemon A's CPU at 500 msg/s, one per batch).
    d.store.beforeCommit(session, () => d.sessions.save(m.peer, session));
    this.#reserved++;
    s.accepting++;
    s.acceptedTo = m.seq;
    let taken = false;
    const take = () => {
      if (taken) return false;
      taken = true;
      this.#reserved--;
      s.accepting--;
      return true;
    };
    return {
      go: () => {
        if (!take()) return;
        if (s.sent !== m.seq - 1) return this.kick(m.peer); // a rewind meanwhile: the pump decides
        s.sent = m.seq;
        this.send(s, envelope, m);
      },
      cancel: () => void take(),
    };
  }

  /** The payload of an outbox entry: a message's, or a file's (read from the file store). */
  #payload(m: PendingMessage, floor: number) {
    if (m.file === undefined) return messagePayload(m, floor);
    if (!this.#d.files) throw new Error("A file's payload with no file store");
    return this.#d.files.payload(m, floor);
  }

  /** Hands an envelope to the relay and acts on its answer (`hs1`: a first handshake message). */
  send(s: PeerState, envelope: Uint8Array, m: PendingMessage | null, hs1 = false): void {
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
      } else s.heldUntil = this.#d.now() + BUSY_HOLD_MS; // refused: a pause, not a storm
      this.rewind(s); // offline, or rejected (recipient_busy, …): retried later
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
      // One that left the outbox was delivered, failed or cancelled in a committed write: its row
      // is not `queued` and the UPDATE would change nothing. Under load most are (the peer's ack
      // comes before the relay's, which waits up to ACK_DELAY_MS): a statement each saved.
      d.messages.markSent(ms.filter((m) => d.outbox.get(m.id) === m));
      return ms;
    }).then((ms) => {
      for (const x of ms) x.status = "sent";
    }, (e) => d.onError(null, e));
  }
}
