/**
 * What a cluster node knows of ids online on other nodes (router.ts): filled from presence
 * events and from lookups of the presence keys, emptied when a node dies, cleared after a gap
 * in the subscription. Bounded: past MAX_REMOTE_IDS it starts over (lookups refill it).
 *
 * @module
 */
import { idKey } from "../hub.ts";
import { parseOwner, type PresenceEvent } from "./_codec.ts";
import { bounded, type RedisPair } from "./redis.ts";

/** Ids online elsewhere remembered at once (~150 bytes each); past it the map starts over. */
export const MAX_REMOTE_IDS = 200_000;
/** A lookup of a presence key without an answer within this fails (the caller decides). */
export const LOOKUP_TIMEOUT_MS = 1500;

/** An id's presence key. */
export const presenceKey = (key: string) => `schied:presence:${key}`;

/** Where an id is online, elsewhere. */
export interface Owner {
  node: string;
  session: string;
  id: Uint8Array;
}

/** The directory of ids online on other nodes. */
export class RemoteIds {
  readonly #map = new Map<string, Owner>();

  /** `alive()`: the nodes with a recent heartbeat; `node`: this one. */
  constructor(
    readonly redis: RedisPair,
    readonly node: string,
    readonly alive: () => ReadonlySet<string>,
  ) {}

  /** Ids known online elsewhere. */
  get size(): number {
    return this.#map.size;
  }

  /** Forgets everything (it may be stale). */
  clear(): void {
    this.#map.clear();
  }

  /** Forgets `key` (its session is here now), or only if its owner is `owner`. */
  forget(key: string, owner?: Owner): void {
    if (!owner || this.#map.get(key) === owner) this.#map.delete(key);
  }

  /** Where `key` is online elsewhere, if on a live node. */
  elsewhere(key: string): Owner | undefined {
    const o = this.#map.get(key);
    return o && this.alive().has(o.node) ? o : undefined;
  }

  /** Reads `key`'s presence key; its owner if it is another live node. */
  async lookup(id: Uint8Array, key: string): Promise<Owner | undefined> {
    const v = parseOwner(
      await bounded(this.redis.cmd.get(presenceKey(key)), LOOKUP_TIMEOUT_MS, "lookup"),
    );
    if (!v || v.node === this.node || !this.alive().has(v.node)) return undefined;
    return this.#remember({ ...v, id });
  }

  #remember(o: Owner): Owner {
    if (this.#map.size >= MAX_REMOTE_IDS) this.#map.clear();
    this.#map.set(idKey(o.id), o);
    return o;
  }

  /** Applies another node's presence event; true when it changed what this node knows. */
  apply(e: PresenceEvent): boolean {
    if (e.node === this.node) return false;
    const key = idKey(e.id);
    if (e.online) {
      this.#remember({ node: e.node, session: e.session, id: e.id });
      return true;
    }
    if (this.#map.get(key)?.session !== e.session) return false;
    this.#map.delete(key);
    return true;
  }

  /** A node died: its ids are forgotten and returned (they are offline now). */
  nodeDied(node: string): Uint8Array[] {
    const gone: Uint8Array[] = [];
    for (const [key, o] of this.#map) {
      if (o.node !== node) continue;
      this.#map.delete(key);
      gone.push(o.id);
    }
    return gone;
  }
}
