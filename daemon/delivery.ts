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
import { formatId } from "../protocol/identity.ts";
import type { Contacts } from "./contacts.ts";
import type { FileFlow } from "./files_flow.ts";
import type { WorkBudget } from "./budget.ts";
import type { Messages, PendingMessage } from "./messages.ts";
import type { Outbox } from "./outbox.ts";
import type { Requests } from "./requests.ts";
import type { Self } from "./self.ts";
import type { SessionManager } from "./sessions.ts";
import type { Serial } from "./_serial.ts";
import type { Store } from "./store.ts";
import type { RelayState } from "./service.ts";
import { Incoming } from "./_delivery_incoming.ts";
import { settleGroups } from "./_groups_status.ts";
import { OFFLINE_RETRY_MS, Outgoing, RETRY_MS } from "./_delivery_outgoing.ts";

export {
  BUSY_HOLD_MS,
  FILE_WINDOW,
  OFFLINE_RETRY_MS,
  RETRY_MS,
  WINDOW,
} from "./_delivery_outgoing.ts";

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
  serial: Serial;
  relay: () => RelayPort | undefined;
  now: () => number;
  /** Files (their payloads share the outbox and the sequence numbers); none in some tests. */
  files?: FileFlow;
  /** Records a failure worth an `error` event (a key mismatch, an internal error). */
  onError: (peer: string | null, e: unknown) => void;
}

/** The delivery engine of the current identity. */
export class Delivery {
  readonly #d: DeliveryDeps;
  /** The outgoing side, and every peer's send progress. */
  readonly #out: Outgoing;
  /** The incoming side. */
  readonly #in: Incoming;

  /** Binds to the daemon's parts. */
  constructor(d: DeliveryDeps) {
    this.#d = d;
    this.#out = new Outgoing(d);
    this.#in = new Incoming(d, this.#out);
  }

  /** Forgets per-peer state (after an identity change). */
  reset(): void {
    this.#out.peers.clear();
    this.#in.reset();
  }

  /** Cancels what is arranged for later (acknowledgements): the daemon stops. */
  stop(): void {
    this.#in.stop();
  }

  /** Online-ness of a peer as last reported by the relay. */
  online(peer: string): boolean | null {
    return this.#out.peers.get(peer)?.online ?? null;
  }

  /** Sends what is pending for `peer` (call after accepting a message, or any change). */
  kick(peer: string): void {
    this.#out.kick(peer);
  }

  /** After (re)connecting to the relay: everything unacknowledged goes again. */
  onRelayOnline(): void {
    for (const s of this.#out.peers.values()) {
      s.heldUntil = 0; // a new link: what refused before may take it now
      this.#out.rewind(s);
    }
    for (const peer of this.#d.outbox.peers()) this.kick(peer);
  }

  /** A presence event from the relay; returns true if it changed what was known. */
  onPresence(id: Uint8Array, online: boolean): boolean {
    const s = this.#out.state(formatId(id));
    const changed = s.online !== online;
    s.online = online;
    if (online) {
      s.probe = false;
      this.#out.rewind(s);
      this.kick(s.peer);
    } else s.offlineSince = this.#d.now();
    return changed;
  }

  /** Periodic work: resend after RETRY_MS without progress, probe offline peers now and then. */
  tick(): void {
    const now = this.#d.now();
    for (const peer of this.#d.outbox.peers()) {
      const s = this.#out.state(peer);
      if (s.online === false) {
        if (now - s.offlineSince < OFFLINE_RETRY_MS) continue;
        s.online = null;
        s.probe = true;
      }
      if (now - s.lastProgress >= RETRY_MS) {
        this.#out.rewind(s);
        this.kick(peer);
      } else if (s.heldUntil !== 0 && now >= s.heldUntil) {
        s.heldUntil = 0; // a refusal's pause is over: the window goes again
        this.kick(peer);
      }
    }
  }

  /**
   * Seals a message inside the store operation that accepts it, when it is simply the next to go
   * (a session, the relay online, the window open, nothing before it unsent): its session state
   * then commits with the message, one fsync instead of two, and it leaves at once. Returns what
   * to call once the operation has committed (`go`), or if it failed or ran again (`cancel`: the
   * room it took on the link is given back), or undefined (the pump sends it as usual).
   */
  sealAccepted(m: PendingMessage): { go(): void; cancel(): void } | undefined {
    return this.#out.sealAccepted(m);
  }

  /** An envelope from the relay: queued and handled in batches, in arrival order. */
  onDeliver(from: Uint8Array, envelope: Uint8Array): void {
    this.#in.onDeliver(from, envelope);
  }

  /**
   * Cancels an outgoing message (Messages.cancel: failed, reason `cancelled`). A store operation
   * like delivery's own: whichever commits first wins (a delivered message is refused, a
   * cancelled one is never marked delivered), and the outbox index changes only after the
   * commit. Nothing that left the index is sent again (see Outgoing.pump); an envelope the relay
   * has already taken may still reach the peer.
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
      settleGroups(d.messages, expired); // a group message with a copy given up on fails
      // A file whose payloads are given up on fails with them (reason `expired`).
      return d.files?.gaveUp(expired);
    }).then((fx) => {
      d.outbox.remove(expired);
      if (fx) d.files?.apply(fx);
    }, (e) => d.onError(null, e));
  }
}
