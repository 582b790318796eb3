/**
 * The daemon's lasting connection to the relay: connects, logs in, and reconnects forever with
 * jittered exponential backoff (1 s, ×1.5, capped at 60 s; each wait drawn from 80–120 %, so a
 * relay restart is not met by every daemon at the same instant). Re-arms presence watches after
 * each login and reports its state.
 *
 * @module
 */
import { parseRelayAddress, type RelayAddress } from "../protocol/address.ts";
import { toHex } from "../protocol/bytes.ts";
import type { ErrorCode } from "../protocol/errors.ts";
import { LinkClient, type SendResult } from "./link_client.ts";
import type { Identity } from "./keystore.ts";
import type { RelayState } from "./service.ts";
import { Backoff } from "../lib/backoff.ts";

/** Backoff parameters. */
export const BACKOFF = { initialMs: 1000, factor: 1.5, maxMs: 60_000, jitter: 0.2 };
/**
 * Backoff after the relay refused the login (auth_failed before the link was up): a wrong relay
 * key or a wrong identity will not fix itself in a second, and each try costs the relay a
 * handshake; 30 s, doubling, at most 10 minutes.
 */
export const AUTH_BACKOFF = { initialMs: 30_000, factor: 2, maxMs: 600_000, jitter: 0.2 };

/** Why the link went offline, and when the next try is. */
export interface OfflineDetail {
  code: ErrorCode | null;
  reason: string;
  /** Ms until the next try. */
  retryInMs?: number;
}

/** Options of the relay client. */
export interface RelayClientOptions {
  address: string;
  identity: () => Identity;
  onDeliver: (from: Uint8Array, envelope: Uint8Array) => void;
  onPresence: (id: Uint8Array, online: boolean) => void;
  onState: (state: RelayState, detail?: OfflineDetail) => void;
  /** Ids to watch after every login. */
  watchList: () => Uint8Array[];
  /** Overrides BACKOFF.initialMs (tests). */
  initialBackoffMs?: number;
}

/**
 * One daemon's relay connection.
 *
 * @example
 * ```ts
 * const rc = new RelayClient({ address, identity: () => id, onDeliver, onPresence, onState, watchList });
 * rc.start();
 * ```
 */
export class RelayClient {
  readonly #o: RelayClientOptions;
  readonly address: RelayAddress;
  #link: LinkClient | undefined;
  #state: RelayState = "offline";
  #stopped = true;
  readonly #backoff: Backoff;
  readonly #authBackoff = new Backoff(AUTH_BACKOFF);
  #timer: ReturnType<typeof setTimeout> | undefined;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  /** Ids the relay watches for this link, least recently used first (at most max_watches). */
  readonly #watching = new Map<string, Uint8Array>();

  /** Parses the address (throws a TypeError saying what is wrong). */
  constructor(o: RelayClientOptions) {
    this.#o = o;
    this.address = parseRelayAddress(o.address);
    this.#backoff = new Backoff({ ...BACKOFF, initialMs: o.initialBackoffMs ?? BACKOFF.initialMs });
  }

  /** The current state. */
  get state(): RelayState {
    return this.#state;
  }

  /** The relay's frame rate limit, once logged in. */
  get link(): LinkClient | undefined {
    return this.#state === "online" ? this.#link : undefined;
  }

  #set(state: RelayState, detail?: OfflineDetail): void {
    if (this.#state === state && !detail) return;
    this.#state = state;
    this.#o.onState(state, detail);
  }

  /** Starts connecting (and reconnecting). */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      this.#set("connecting");
      let closedInfo: { code: ErrorCode | null; reason: string };
      let loggedIn = false;
      try {
        const link = await LinkClient.connect({
          address: this.address,
          identity: this.#o.identity().signing,
          linkKey: this.#o.identity().linkKey,
          onDeliver: this.#o.onDeliver,
          onPresence: this.#o.onPresence,
        });
        if (this.#stopped) {
          await link.close();
          break;
        }
        this.#link = link;
        this.#backoff.reset();
        this.#authBackoff.reset();
        this.#watching.clear();
        loggedIn = true;
        this.#set("online");
        this.#arm(link, this.#o.watchList());
        closedInfo = await link.closed();
        this.#link = undefined;
      } catch (e) {
        closedInfo = {
          code: (e as { code?: ErrorCode }).code ?? null,
          reason: (e as Error).message,
        };
      }
      if (this.#stopped) break;
      // Refused at login (never online this round): the long backoff; else the short one.
      const refused = closedInfo.code === "auth_failed" && !loggedIn;
      const wait = refused ? this.#authBackoff.next() : this.#backoff.next();
      // A replaced session means another daemon runs with this identity: back off fully.
      if (closedInfo.code === "replaced") this.#backoff.max();
      this.#set("offline", { ...closedInfo, retryInMs: Math.round(wait) });
      await new Promise<void>((r) => {
        this.#wake = r;
        this.#timer = setTimeout(r, wait);
      });
    }
    this.#set("offline");
  }

  /** SENDs the link takes now before refusing them as `busy` (0 when not online). */
  get room(): number {
    return this.link?.room ?? 0;
  }

  /** Sends an envelope; resolves `rejected` at once when not online. */
  send(to: Uint8Array, envelope: Uint8Array): Promise<SendResult> {
    const link = this.link;
    if (!link) return Promise.resolve({ status: "rejected", code: "internal" });
    return link.send(to, envelope);
  }

  /**
   * Adds presence watches now (they are re-armed after every login). Never more than the
   * relay's max_watches: beyond, the least recently watched ids are unwatched to make room, so
   * a daemon with many contacts never has its link cut for watching too many.
   */
  watch(ids: Uint8Array[]): void {
    const link = this.link;
    if (link) this.#arm(link, ids);
  }

  /** Drops presence watches (a contact removed or blocked). */
  unwatch(ids: Uint8Array[]): void {
    const link = this.link;
    const gone = ids.filter((id) => this.#watching.delete(toHex(id)));
    if (link && gone.length > 0) link.unwatch(gone);
  }

  #arm(link: LinkClient, ids: Uint8Array[]): void {
    const max = link.welcome.maxWatches;
    const fresh = new Map<string, Uint8Array>();
    for (const id of ids) {
      const k = toHex(id);
      if (this.#watching.delete(k)) this.#watching.set(k, id); // refreshed, still watched
      else fresh.set(k, id);
    }
    const take = [...fresh].slice(-max); // the newest ids win
    const evict: Uint8Array[] = [];
    for (const [k, id] of this.#watching) {
      if (this.#watching.size + take.length <= max) break;
      evict.push(id);
      this.#watching.delete(k);
    }
    if (evict.length > 0) link.unwatch(evict);
    for (const [k, id] of take) this.#watching.set(k, id);
    if (take.length > 0) link.watch(take.map(([, id]) => id));
  }

  /** Drops the connection and reconnects now (after an identity change). */
  reconnect(): void {
    this.#backoff.reset();
    void this.#link?.close();
  }

  /** Stops for good. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#wake?.(); // wake the loop if it is waiting out a backoff
    await this.#link?.close();
    await this.#loop?.catch(() => {});
  }
}
