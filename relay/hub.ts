/**
 * Who is online, who watches whom, and where a frame goes, on one relay: the in-process Router
 * (router.ts). Pure state with no I/O: sessions are handles the link layer implements. Bounded:
 * one session per id, a capped number of watches.
 *
 * @module
 */
import { toHex } from "../protocol/bytes.ts";
import type { ErrorCode } from "../protocol/errors.ts";
import type { Router } from "./router.ts";

/** What a session did with an envelope: queued it, refused it (queue full), or is gone. */
export type DeliverResult = "ok" | "busy" | "closed";

/** What the hub needs of a logged-in session. */
export interface SessionHandle {
  /** The authenticated 16-byte id (derived from the identity key, never claimed). */
  readonly id: Uint8Array;
  /** A map key for the id. */
  readonly key: string;
  /** Queues a DELIVER; `busy` if its queue is full, `closed` if it is going away. */
  deliver(from: Uint8Array, envelope: Uint8Array): DeliverResult;
  /** Queues a PRESENCE frame. */
  presence(id: Uint8Array, online: boolean): void;
  /** Ends the session with an error code (sends an ERROR frame first when it can). */
  terminate(code: ErrorCode, reason: string): void;
}

/** A map key for a 16-byte id: its hex text. */
export function idKey(id: Uint8Array): string {
  return toHex(id);
}

/** What a Hub asks of a cluster around it (cluster/router.ts); the single relay has none. */
export interface HubRemote {
  /** True when `key` is online on another node (as far as this node knows). */
  onlineElsewhere(key: string): boolean;
  /**
   * A watch was added for `key`, not online here: find out whether it is elsewhere. Settles
   * (never rejects) when `onlineElsewhere` has the answer.
   */
  watched(id: Uint8Array, key: string): Promise<void>;
}

/**
 * The routing table of one relay (the single relay's Router, and each cluster node's local part).
 *
 * @example
 * ```ts
 * const hub = new Hub();
 * hub.attach(session); // the previous session of that id, if any, is replaced
 * hub.route(session, toId, envelope); // "delivered" | "offline"
 * ```
 */
export class Hub implements Router {
  readonly #remote: HubRemote | undefined;
  readonly #sessions = new Map<string, SessionHandle>();
  readonly #watchers = new Map<string, Set<SessionHandle>>();
  readonly #watching = new Map<SessionHandle, Map<string, Uint8Array>>();

  /** A hub; `remote` when it is a cluster node's. */
  constructor(remote?: HubRemote) {
    this.#remote = remote;
  }

  /** Sessions online now. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Watches held now, over all sessions. */
  get watchCount(): number {
    let n = 0;
    for (const w of this.#watching.values()) n += w.size;
    return n;
  }

  /** True if a session for `key` is online. */
  isOnline(key: string): boolean {
    return this.#sessions.has(key);
  }

  /** The session of `key`, if online. */
  get(key: string): SessionHandle | undefined {
    return this.#sessions.get(key);
  }

  /**
   * Makes `s` the session of its id. An older session of the same id is terminated with
   * `replaced`, so a reconnecting daemon is never locked out. Returns the replaced session.
   */
  attach(s: SessionHandle): SessionHandle | undefined {
    const old = this.#sessions.get(s.key);
    this.#sessions.set(s.key, s);
    if (old) {
      this.#dropWatches(old);
      old.terminate("replaced", "Another session logged in with this id");
    } else {
      this.#announce(s.id, s.key, true);
    }
    return old;
  }

  /** Removes `s` if it is still the session of its id (a replaced one is already gone). */
  detach(s: SessionHandle): void {
    this.#dropWatches(s);
    if (this.#sessions.get(s.key) === s) {
      this.#sessions.delete(s.key);
      // Moved to another node meanwhile: still online, as its watchers were told.
      if (!this.#remote?.onlineElsewhere(s.key)) this.#announce(s.id, s.key, false);
    }
  }

  /**
   * Another node reports `id` online or offline: this node's watchers are told, unless the id
   * has a session here (whose own attach and detach speak for it).
   */
  remoteChange(id: Uint8Array, online: boolean): void {
    const key = idKey(id);
    if (!this.#sessions.has(key)) this.#announce(id, key, online);
  }

  /**
   * Hands an envelope to the online session of `to`. `from` is the sender's session. `busy`:
   * the recipient is online but its queue is full (the sender should retry later).
   */
  route(
    from: SessionHandle,
    to: Uint8Array,
    envelope: Uint8Array,
  ): "delivered" | "offline" | "busy" {
    const target = this.#sessions.get(idKey(to));
    if (!target) return "offline";
    const r = target.deliver(from.id, envelope);
    return r === "ok" ? "delivered" : r === "busy" ? "busy" : "offline";
  }

  /**
   * Adds presence watches for `s`, answering each with the current state. Returns false (and adds
   * nothing) if the session would exceed `max` watches.
   */
  watch(s: SessionHandle, ids: Uint8Array[], max: number): boolean {
    const mine = this.#watching.get(s) ?? new Map<string, Uint8Array>();
    const fresh = ids.filter((id) => !mine.has(idKey(id)));
    if (mine.size + new Set(fresh.map(idKey)).size > max) return false;
    this.#watching.set(s, mine);
    for (const id of ids) {
      const k = idKey(id);
      mine.set(k, id);
      let set = this.#watchers.get(k);
      if (!set) this.#watchers.set(k, set = new Set());
      set.add(s);
      const here = this.#sessions.has(k);
      if (here || !this.#remote) {
        s.presence(id, here);
        continue;
      }
      // Maybe on another node: what this node knows, else the answer once Redis gave it, so
      // that a watch never hears "offline" first for an id that is online elsewhere.
      const known = this.#remote.onlineElsewhere(k);
      if (known) s.presence(id, true);
      void this.#remote.watched(id, k).then(() => this.#looked(s, id, k, known));
    }
    return true;
  }

  /** A cluster lookup for a watch of `s` is back: the watch is answered unless it was. */
  #looked(s: SessionHandle, id: Uint8Array, k: string, answered: boolean): void {
    if (answered || !this.#watching.get(s)?.has(k)) return; // or unwatched, or the session gone
    s.presence(id, this.#sessions.has(k) || !!this.#remote?.onlineElsewhere(k));
  }

  /** Removes presence watches of `s`. */
  unwatch(s: SessionHandle, ids: Uint8Array[]): void {
    const mine = this.#watching.get(s);
    if (!mine) return;
    for (const id of ids) {
      const k = idKey(id);
      mine.delete(k);
      const set = this.#watchers.get(k);
      set?.delete(s);
      if (set?.size === 0) this.#watchers.delete(k);
    }
  }

  #dropWatches(s: SessionHandle): void {
    const mine = this.#watching.get(s);
    if (!mine) return;
    this.unwatch(s, [...mine.values()]);
    this.#watching.delete(s);
  }

  #announce(id: Uint8Array, key: string, online: boolean): void {
    const set = this.#watchers.get(key);
    if (!set) return;
    for (const w of set) w.presence(id, online);
  }

  /** Every id some session here watches. */
  watchedIds(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const [k, set] of this.#watchers) {
      const first = set.values().next().value;
      const id = first && this.#watching.get(first)?.get(k);
      if (id) out.push(id);
    }
    return out;
  }

  /** Every session online now (for shutdown). */
  all(): SessionHandle[] {
    return [...this.#sessions.values()];
  }

  /** Nothing to stop. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
