/**
 * The seams between the link code and where sessions and ids live: a {@linkcode Router} (who is
 * online, who watches whom, where a frame goes) and a {@linkcode RegistryStore} (client_id →
 * identity key). The link code talks only to these interfaces; it does not know whether they
 * are the single relay's in-process ones (hub.ts, registry.ts) or a cluster's on Redis
 * (cluster/). Either may answer asynchronously, so every caller accepts a value or a promise.
 *
 * @module
 */
import type { RegisterResult, RegistryEntry } from "./registry.ts";
import type { SessionHandle } from "./hub.ts";

/** Where a SEND went: handed to the recipient's session, nobody online, or its queue full. */
export type RouteResult = "delivered" | "offline" | "busy";

/** A value now, or later. */
export type MaybePromise<T> = T | Promise<T>;

/** Who is online and where frames go. */
export interface Router {
  /** Sessions on this node now. */
  readonly size: number;
  /** Watches held by this node's sessions. */
  readonly watchCount: number;
  /** This node's session of `key`, if any. */
  get(key: string): SessionHandle | undefined;
  /**
   * Makes `s` the session of its id, replacing (terminating as `replaced`) any older one, here
   * or on another node. Returns the replaced session of this node, if any.
   */
  attach(s: SessionHandle): SessionHandle | undefined;
  /** Removes `s` if it is still the session of its id. */
  detach(s: SessionHandle): void;
  /** Hands an envelope from `from` to the session of `to`, wherever it is. */
  route(from: SessionHandle, to: Uint8Array, envelope: Uint8Array): MaybePromise<RouteResult>;
  /**
   * Adds presence watches for `s`; each is answered with the id's state (now, or as soon as it
   * is known). False, with nothing added, past `max` watches.
   */
  watch(s: SessionHandle, ids: Uint8Array[], max: number): boolean;
  /** Removes presence watches of `s`. */
  unwatch(s: SessionHandle, ids: Uint8Array[]): void;
  /** Every session of this node (for shutdown). */
  all(): SessionHandle[];
  /** Stops background work and releases connections (the single relay's: nothing). */
  close(): Promise<void>;
}

/** client_id → identity key, first registration wins. */
export interface RegistryStore {
  /** The entry of `id`, if registered. */
  lookup(id: Uint8Array): MaybePromise<RegistryEntry | undefined>;
  /** Registers `publicKey` under `id` unless taken (`conflict` for another key). */
  register(id: Uint8Array, publicKey: Uint8Array): MaybePromise<RegisterResult>;
  /** Registered ids (may lag a little behind, for metrics). */
  count(): number;
  /** Closes it. */
  close(): void;
}
