/**
 * Backpressure on sends to a peer that is online: past MAX_BACKLOG messages pending to it, a new
 * send waits for room (a slower 202) and, after BACKLOG_WAIT_MS without room, is refused as
 * `busy` (503, Retry-After 1 s). Used by the engine's sending (_engine_send.ts, groups).
 *
 * Why: the outbox is there for peers that are away (up to MAX_OUTBOX_MESSAGES, a week of a busy
 * script). To a peer that is online, a sender faster than the path to it (the relay, the peer's
 * daemon) only builds a queue that grows for as long as it keeps sending — memory, and a delay
 * every later message waits behind — while nobody learns that it is too fast. So the queue to an
 * online peer is bounded and the sender is slowed to what the peer takes. A peer that is offline,
 * unknown, or a relay that is down changes nothing: messages queue as before.
 *
 * Counted are messages (texts, group copies, carriers), not a file's payloads: a file's chunks
 * are queued all at once when the peer accepts it and are paced by their own window, and text
 * sent meanwhile must not be refused for them.
 *
 * @module
 */
import type { Outbox } from "./outbox.ts";
import { OVERLOAD_RETRY_AFTER_S, ServiceError } from "./service.ts";

/**
 * Most messages pending to one online peer before a new send waits. Why 1,024: four delivery
 * windows, about half a second of this machine's capacity (~2,000 msg/s), so the pipeline never
 * runs dry between acknowledgements (at most 25 ms apart in a burst) and a burst from a script
 * is taken at once; deeper would only add delay and memory.
 */
export const MAX_BACKLOG = 1024;

/**
 * How long a send waits for room before `busy`. Why 1 s: a healthy peer drains MAX_BACKLOG in
 * about half that; a client told to retry after 1 s (OVERLOAD_RETRY_AFTER_S) waits no longer
 * than one that waited here.
 */
export const BACKLOG_WAIT_MS = 1000;

/** What the backlog reads of the daemon. */
export interface BacklogDeps {
  outbox: Outbox;
  /** True when messages to `peer` are moving: the relay online and the peer reported online. */
  delivering(peer: string): boolean;
  /** Overrides BACKLOG_WAIT_MS (tests). */
  waitMs?: number;
}

/** The sends waiting for room, by peer. */
export class Backlog {
  readonly #d: BacklogDeps;
  readonly #waiting = new Map<string, Set<() => void>>();

  /** Binds to the outbox and to what tells whether a peer is reachable. */
  constructor(d: BacklogDeps) {
    this.#d = d;
  }

  /** True when a send to `peer` must wait (see MAX_BACKLOG). */
  full(peer: string): boolean {
    return this.#d.outbox.messagesTo(peer) >= MAX_BACKLOG && this.#d.delivering(peer);
  }

  /** Sends waiting for room (tests). */
  get waiting(): number {
    let n = 0;
    for (const s of this.#waiting.values()) n += s.size;
    return n;
  }

  /**
   * Resolves once none of `peers` is full; rejects with `busy` after the wait. Undefined when
   * there is room now (no promise, no timer: the common case).
   */
  room(peers: readonly string[]): Promise<void> | undefined {
    const first = peers.find((p) => this.full(p));
    if (first === undefined) return undefined;
    let blocked: string | undefined = first;
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        blocked = peers.find((p) => this.full(p));
        if (blocked === undefined) done(resolve);
        else this.#on(blocked, check);
      };
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.#off(check);
        settle();
      };
      const timer = setTimeout(
        () => done(() => reject(this.#busy(blocked ?? first))),
        this.#d.waitMs ?? BACKLOG_WAIT_MS,
      );
      this.#on(first, check);
    });
  }

  /**
   * Waiters for `peer` (or every waiter) check again: messages left the outbox, the peer's
   * presence or the relay's state changed.
   */
  wake(peer?: string): void {
    const sets = peer === undefined ? [...this.#waiting.values()] : [this.#waiting.get(peer)];
    for (const set of sets) {
      if (!set) continue;
      for (const check of [...set]) {
        set.delete(check);
        check();
      }
    }
    for (const [k, set] of this.#waiting) if (set.size === 0) this.#waiting.delete(k);
  }

  #busy(peer: string): ServiceError {
    const n = this.#d.outbox.messagesTo(peer);
    return new ServiceError(
      "busy",
      `${n} messages to ${peer} are waiting to be sent; retry in ${OVERLOAD_RETRY_AFTER_S} s`,
      OVERLOAD_RETRY_AFTER_S,
    );
  }

  #on(peer: string, check: () => void): void {
    let set = this.#waiting.get(peer);
    if (!set) this.#waiting.set(peer, set = new Set());
    set.add(check);
  }

  #off(check: () => void): void {
    for (const [k, set] of this.#waiting) {
      if (set.delete(check) && set.size === 0) this.#waiting.delete(k);
    }
  }
}
