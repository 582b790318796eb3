/**
 * Recipients the relay was not asked about. `send` looks a new peer's key up in the relay's key
 * directory (outgoing.ts lookupPeerKey) and refuses an unregistered id at once; while the relay
 * cannot be asked (offline, rate-limited, a server error) the message is queued anyway. This
 * module asks again: whenever the relay comes online, and on the timer, every peer with
 * undelivered messages and no pinned key is looked up, LOOKUP_CONCURRENCY at a time (the relay
 * rate-limits lookups per address). A key found is pinned. For an id the relay says is not
 * registered, every undelivered message fails at once with reason `recipient_unknown`, and the
 * contact is dropped if the send made it (see Recipients.#fail). Any other outcome is not
 * definitive and is retried later, with a backoff.
 *
 * Failing goes through the store like every change: the outbox index changes once the write has
 * committed.
 *
 * @module
 */
import type { Contacts } from "./contacts.ts";
import { settleGroups } from "./_groups_status.ts";
import type { Messages, PendingMessage } from "./messages.ts";
import type { Outbox } from "./outbox.ts";
import type { Store } from "./store.ts";

/** Lookups in flight at once (the relay allows 10 a second from one address, a burst of 20). */
export const LOOKUP_CONCURRENCY = 2;
/** A lookup without a definitive answer is tried again after this long, doubling… */
export const LOOKUP_RETRY_MS = 5_000;
/** …up to this long. */
export const LOOKUP_RETRY_MAX_MS = 5 * 60_000;
/** The reason of a message failed because the relay does not know its recipient. */
export const RECIPIENT_UNKNOWN = "recipient_unknown";

/** What the check needs of the daemon. */
export interface RecipientDeps {
  store: Store;
  contacts: Contacts;
  messages: Messages;
  outbox: Outbox;
  /**
   * Asks the relay for a peer's key: resolves with it, or undefined when there is no answer
   * (retried); throws recipient_unknown for an unregistered id (definitive), anything else is
   * retried.
   */
  lookup: (peer: string) => Promise<Uint8Array | undefined>;
  /** True while the relay connection is online. */
  online: () => boolean;
  now: () => number;
  /** The peer's messages failed (and its contact may be gone): e.g. stop watching it. */
  onFailed: (peer: string, failed: PendingMessage[], contactDropped: boolean) => void;
  /** Records a failure worth an `error` event (a key that does not match, a failed write). */
  onError: (peer: string | null, e: unknown) => void;
}

/** Checks the recipients of queued messages against the relay's key directory. */
export class Recipients {
  readonly #d: RecipientDeps;
  /** Peers waiting for a lookup, and those being looked up. */
  readonly #waiting = new Set<string>();
  readonly #active = new Set<string>();
  /** Peers whose last lookup had no definitive answer: when to ask again, and the next delay. */
  readonly #retry = new Map<string, { at: number; delay: number }>();

  /** Binds to the daemon's parts. */
  constructor(d: RecipientDeps) {
    this.#d = d;
  }

  /** The relay is (back) online: every unchecked peer is looked up now, backoffs forgotten. */
  onRelayOnline(): void {
    this.#retry.clear();
    this.run();
  }

  /** Looks up every peer with undelivered messages, no pinned key, and no backoff running. */
  run(): void {
    const d = this.#d;
    if (!d.online()) return;
    const now = d.now();
    for (const peer of d.outbox.peers()) {
      if (this.#active.has(peer) || this.#waiting.has(peer)) continue;
      if (d.contacts.get(peer)?.identityKey) continue;
      if ((this.#retry.get(peer)?.at ?? 0) > now) continue;
      this.#waiting.add(peer);
    }
    this.#drain();
  }

  /** Peers waiting for a lookup or being looked up (for tests). */
  get pending(): number {
    return this.#waiting.size + this.#active.size;
  }

  #drain(): void {
    for (const peer of this.#waiting) {
      if (this.#active.size >= LOOKUP_CONCURRENCY) return;
      this.#waiting.delete(peer);
      this.#active.add(peer);
      void this.#check(peer).catch((e) => this.#d.onError(peer, e)).finally(() => {
        this.#active.delete(peer);
        this.#drain();
      });
    }
  }

  async #check(peer: string): Promise<void> {
    const d = this.#d;
    let key: Uint8Array | undefined;
    try {
      key = await d.lookup(peer);
    } catch (e) {
      if ((e as { code?: string }).code === RECIPIENT_UNKNOWN) return await this.#fail(peer);
      d.onError(peer, e); // a relay answering a key that does not hash to the id: not its word
      return this.#later(peer);
    }
    if (!key) return this.#later(peer);
    this.#retry.delete(peer);
    await d.store.write(() => d.contacts.pin(peer, key));
  }

  #later(peer: string): void {
    const delay = this.#retry.get(peer)?.delay ?? LOOKUP_RETRY_MS;
    this.#retry.set(peer, {
      at: this.#d.now() + delay,
      delay: Math.min(delay * 2, LOOKUP_RETRY_MAX_MS),
    });
  }

  /**
   * The relay does not know `peer`: its undelivered messages fail with RECIPIENT_UNKNOWN. Its
   * contact goes too when a send made it: unnamed, unverified, no key, and nothing with the peer
   * but messages failed this way (a contact the user named, or with any other history, stays).
   */
  async #fail(peer: string): Promise<void> {
    const d = this.#d;
    this.#retry.delete(peer);
    let pending: PendingMessage[] = [];
    const dropped = await d.store.write(() => {
      // What the outbox holds now; it changes only after a commit, so a rerun sees the same.
      pending = d.outbox.pending(peer, 0, Number.MAX_SAFE_INTEGER);
      for (const m of pending) d.messages.markFailed(m, RECIPIENT_UNKNOWN);
      settleGroups(d.messages, pending);
      const c = d.contacts.get(peer);
      if (!c || c.kind !== "contact" || c.name !== null || c.verified || c.identityKey) {
        return false;
      }
      if (d.messages.countOtherThanFailed(peer, RECIPIENT_UNKNOWN) > 0) return false;
      d.contacts.remove(peer);
      return true;
    });
    d.outbox.remove(pending);
    d.onFailed(peer, pending, dropped);
  }
}
