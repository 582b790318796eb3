/**
 * The daemon's lasting connection to the relay: connects, logs in, and reconnects forever with
 * jittered exponential backoff (1 s, ×1.5, capped at 60 s; each wait drawn from 80–120 %, so a
 * relay restart is not met by every daemon at the same instant). Re-arms presence watches after
 * each login and reports its state.
 *
 * Several relays: the address may be a list (comma-separated, in order of preference; each one a
 * full address with its own pinned key, so the nodes may share one relay key or have one each).
 * Every (re)connect is a pass over the list from the first: each address is tried in turn, each
 * try bounded by the connect timeout (10 s, handshake included), and the first that logs in is
 * kept. Only when a whole pass fails does the client wait out the backoff before the next pass.
 * A working link is never dropped to go back to a preferred relay (no flapping): the preferred
 * one is tried again at the next reconnect, i.e. when the link in use fails.
 *
 * @module
 */
import type { RelayAddress } from "../protocol/address.ts";
import { toHex } from "../protocol/bytes.ts";
import type { ErrorCode } from "../protocol/errors.ts";
import {
  LinkClient,
  type LinkClientOptions,
  type LinkClosed,
  type SendResult,
} from "./link_client.ts";
import type { Identity } from "./keystore.ts";
import type { RelayState } from "./service.ts";
import { Backoff } from "../lib/backoff.ts";
import {
  AUTH_BACKOFF,
  BACKOFF,
  CONNECT_TIMEOUT_MS,
  parseRelayList,
  REAL_TIMERS,
  type RelayListEntry,
  type RelayTimers,
} from "./_relay_list.ts";

export {
  AUTH_BACKOFF,
  BACKOFF,
  CONNECT_TIMEOUT_MS,
  parseRelayList,
  type RelayListEntry,
  type RelayTimers,
};

/** Why the link went offline, and when the next try is. */
export interface OfflineDetail {
  code: ErrorCode | null;
  reason: string;
  /** Ms until the next try. */
  retryInMs?: number;
}

/** Options of the relay client. */
export interface RelayClientOptions {
  /** One relay address, or several comma-separated, in order of preference. */
  address: string;
  identity: () => Identity;
  onDeliver: (from: Uint8Array, envelope: Uint8Array) => void;
  onPresence: (id: Uint8Array, online: boolean) => void;
  onState: (state: RelayState, detail?: OfflineDetail) => void;
  /** Ids to watch after every login. */
  watchList: () => Uint8Array[];
  /** Overrides BACKOFF.initialMs (tests). */
  initialBackoffMs?: number;
  /** Overrides CONNECT_TIMEOUT_MS (tests). */
  connectTimeoutMs?: number;
  /** Opens one link (default LinkClient.connect; tests pass a fake). */
  connect?: (o: LinkClientOptions) => Promise<LinkClient>;
  /** Timers for the backoff waits (tests pass a fake clock). */
  timers?: RelayTimers;
  /** Random numbers in [0, 1) for the jitter (tests pass their own). */
  random?: () => number;
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
  /** The relays, in order of preference. */
  readonly relays: readonly RelayListEntry[];
  #current = 0;
  #link: LinkClient | undefined;
  #state: RelayState = "offline";
  #stopped = true;
  readonly #backoff: Backoff;
  readonly #authBackoff: Backoff;
  readonly #timers: RelayTimers;
  #timer: unknown;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  /** Ids the relay watches for this link, least recently used first (at most max_watches). */
  readonly #watching = new Map<string, Uint8Array>();

  /** Parses the address list (throws a TypeError saying what is wrong). */
  constructor(o: RelayClientOptions) {
    this.#o = o;
    this.relays = parseRelayList(o.address);
    const random = o.random ?? Math.random;
    this.#backoff = new Backoff({
      ...BACKOFF,
      initialMs: o.initialBackoffMs ?? BACKOFF.initialMs,
      random,
    });
    this.#authBackoff = new Backoff({ ...AUTH_BACKOFF, random });
    this.#timers = o.timers ?? REAL_TIMERS;
  }

  /** The relay connected to, or being tried (or tried last, while waiting to try again). */
  get current(): RelayListEntry {
    return this.relays[this.#current]!;
  }

  /** The parsed address of {@linkcode current}. */
  get address(): RelayAddress {
    return this.current.address;
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

  /** A reason, naming the relay when there are several. */
  #named(i: number, reason: string): string {
    return this.relays.length === 1 ? reason : `${this.relays[i]!.address.url}: ${reason}`;
  }

  /**
   * One pass over the list from the first relay: resolves with how the link that logged in
   * ended, or with every try's failure when none did.
   */
  async #pass(): Promise<
    { online: LinkClosed } | { failed: { code: ErrorCode | null; reason: string }[] }
  > {
    const failed: { code: ErrorCode | null; reason: string }[] = [];
    for (let i = 0; i < this.relays.length && !this.#stopped; i++) {
      this.#current = i;
      this.#set("connecting");
      let link: LinkClient;
      try {
        link = await (this.#o.connect ?? LinkClient.connect)({
          address: this.relays[i]!.address,
          identity: this.#o.identity().signing,
          linkKey: this.#o.identity().linkKey,
          onDeliver: this.#o.onDeliver,
          onPresence: this.#o.onPresence,
          timeoutMs: this.#o.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
        });
      } catch (e) {
        failed.push({
          code: (e as { code?: ErrorCode }).code ?? null,
          reason: this.#named(i, (e as Error).message),
        });
        continue;
      }
      if (this.#stopped) {
        await link.close();
        break;
      }
      this.#link = link;
      this.#backoff.reset();
      this.#authBackoff.reset();
      this.#watching.clear();
      this.#set("online");
      this.#arm(link, this.#o.watchList());
      const closed = await link.closed();
      this.#link = undefined;
      return { online: { code: closed.code, reason: this.#named(i, closed.reason) } };
    }
    return { failed };
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const r = await this.#pass();
      if (this.#stopped) break;
      let wait: number;
      let info: { code: ErrorCode | null; reason: string };
      if ("online" in r) {
        info = r.online;
        wait = this.#backoff.next();
        // A replaced session means another daemon runs with this identity: back off fully.
        if (info.code === "replaced") this.#backoff.max();
      } else {
        // Refused at login by every relay (a wrong key will not fix itself in a second): the
        // long backoff; else the short one.
        const refused = r.failed.every((f) => f.code === "auth_failed");
        wait = refused ? this.#authBackoff.next() : this.#backoff.next();
        info = {
          code: r.failed[r.failed.length - 1]!.code,
          reason: r.failed.map((f) => f.reason).join("; "),
        };
      }
      this.#set("offline", { ...info, retryInMs: Math.round(wait) });
      await new Promise<void>((r) => {
        this.#wake = r;
        this.#timer = this.#timers.set(r, wait);
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
    this.#timers.clear(this.#timer);
    this.#wake?.(); // wake the loop if it is waiting out a backoff
    await this.#link?.close();
    await this.#loop?.catch(() => {});
  }
}
