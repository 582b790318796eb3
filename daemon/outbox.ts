/**
 * The outbox in memory: every outgoing message not yet delivered, per peer in sequence order.
 * It is read from the database once, at start (and after an identity change); from then on the
 * delivery engine reads only this index, and changes it only after the write that stored the
 * change has committed.
 *
 * Bounded: past MAX_OUTBOX_MESSAGES or MAX_OUTBOX_BYTES the daemon refuses new messages
 * (`busy`, HTTP 503 with Retry-After) instead of growing; delivery drains it.
 *
 * @module
 */
import type { PendingMessage } from "./messages.ts";

/**
 * Most undelivered messages kept. Why 100,000: a week of a busy script to a peer that is away,
 * and a bound on memory (with MAX_OUTBOX_BYTES) whatever the senders do.
 */
export const MAX_OUTBOX_MESSAGES = 100_000;
/** Most bytes of undelivered text kept in memory (256 MiB). */
export const MAX_OUTBOX_BYTES = 256 * 1024 * 1024;

/** The pending messages of one identity, by peer. */
export class Outbox {
  readonly #byPeer = new Map<string, PendingMessage[]>();
  readonly #byId = new Map<string, PendingMessage>();
  /** The pending rotation carrier of each peer that has one (protocol/README.md, 3.1). */
  readonly #carriers = new Map<string, PendingMessage>();
  /** Messages (not a file's payloads) pending per peer (see messagesTo). */
  readonly #messages = new Map<string, number>();
  #bytes = 0;
  /** Hears which peers had messages leave (removed, or moved to another id): the backlog. */
  onLeft: (peer: string) => void = () => {};

  /** Replaces the content with `all` (from the database, sorted by peer and seq). */
  load(all: PendingMessage[]): void {
    this.#byPeer.clear();
    this.#byId.clear();
    this.#carriers.clear();
    this.#messages.clear();
    this.#bytes = 0;
    for (const m of all) this.add(m);
  }

  /** Messages held. */
  get size(): number {
    return this.#byId.size;
  }

  /** True when a new message must wait (see MAX_OUTBOX_MESSAGES, MAX_OUTBOX_BYTES). */
  get full(): boolean {
    return this.#byId.size >= MAX_OUTBOX_MESSAGES || this.#bytes >= MAX_OUTBOX_BYTES;
  }

  /** Adds an accepted message (its seq is above every other one of its peer). */
  add(m: PendingMessage): void {
    let list = this.#byPeer.get(m.peer);
    if (!list) this.#byPeer.set(m.peer, list = []);
    list.push(m);
    this.#byId.set(m.id, m);
    if (m.carrier) this.#carriers.set(m.peer, m);
    if (m.file === undefined) this.#count(m.peer, 1);
    this.#bytes += m.text.length * 2;
  }

  /** Messages pending to `peer`, a file's payloads not counted (_backlog.ts). */
  messagesTo(peer: string): number {
    return this.#messages.get(peer) ?? 0;
  }

  #count(peer: string, by: number): void {
    const n = (this.#messages.get(peer) ?? 0) + by;
    if (n > 0) this.#messages.set(peer, n);
    else this.#messages.delete(peer);
  }

  /**
   * The rotation carrier pending for `peer`, if any: while there is one, the peer has not
   * acknowledged the statement, and every message accepted for it carries the statement too.
   */
  carrier(peer: string): PendingMessage | undefined {
    return this.#carriers.get(peer);
  }

  /**
   * Moves what is pending for `from` to `to` (a contact rotated to a new id, after the write that
   * moved the rows committed): the same objects, their `peer` changed, in sequence order.
   */
  movePeer(from: string, to: string): void {
    const list = this.#byPeer.get(from);
    if (!list || from === to) return;
    this.#byPeer.delete(from);
    const carrier = this.#carriers.get(from);
    this.#carriers.delete(from);
    for (const m of list) m.peer = to;
    const moved = this.messagesTo(from);
    this.#messages.delete(from);
    this.#count(to, moved);
    const merged = [...(this.#byPeer.get(to) ?? []), ...list].sort((a, b) => a.seq - b.seq);
    this.#byPeer.set(to, merged);
    if (carrier) this.#carriers.set(to, carrier);
    this.onLeft(from);
  }

  /** The message `id`, if pending. */
  get(id: string): PendingMessage | undefined {
    return this.#byId.get(id);
  }

  /** Up to `limit` pending messages to `peer` with a seq above `after`, in order. */
  pending(peer: string, after: number, limit: number): PendingMessage[] {
    const list = this.#byPeer.get(peer);
    if (!list || limit <= 0) return [];
    let lo = 0, hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.seq <= after) lo = mid + 1;
      else hi = mid;
    }
    return list.slice(lo, lo + limit);
  }

  /** The oldest pending message to `peer` (its seq is the `floor`). */
  first(peer: string): PendingMessage | undefined {
    return this.#byPeer.get(peer)?.[0];
  }

  /** Peers with pending messages. */
  peers(): string[] {
    return [...this.#byPeer.keys()];
  }

  /** Pending messages to `peer` with seq ≤ `upto` (what an acknowledgement covers). */
  upTo(peer: string, upto: number): PendingMessage[] {
    const list = this.#byPeer.get(peer) ?? [];
    let n = 0;
    while (n < list.length && list[n]!.seq <= upto) n++;
    return list.slice(0, n);
  }

  /** Removes messages (delivered or failed). */
  remove(ms: PendingMessage[]): void {
    const left = new Set<string>();
    for (const m of ms) {
      if (!this.#byId.delete(m.id)) continue;
      if (this.#carriers.get(m.peer) === m) this.#carriers.delete(m.peer);
      if (m.file === undefined) {
        this.#count(m.peer, -1);
        left.add(m.peer);
      }
      this.#bytes -= m.text.length * 2;
      const list = this.#byPeer.get(m.peer)!;
      const i = list.indexOf(m);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.#byPeer.delete(m.peer);
    }
    for (const peer of left) this.onLeft(peer);
  }

  /** Size and the creation time of the oldest message. */
  stats(): { size: number; oldest: number | null } {
    // Per peer, sequence order is acceptance order: the first is the oldest.
    let oldest: number | null = null;
    for (const list of this.#byPeer.values()) {
      const t = list[0]!.createdAt;
      if (oldest === null || t < oldest) oldest = t;
    }
    return { size: this.#byId.size, oldest };
  }

  /** Messages created before `cutoff`. */
  expired(cutoff: number): PendingMessage[] {
    const out: PendingMessage[] = [];
    for (const list of this.#byPeer.values()) {
      for (const m of list) {
        if (m.createdAt >= cutoff) break;
        out.push(m);
      }
    }
    return out;
  }
}
