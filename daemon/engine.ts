/**
 * The daemon's service: everything the local API can ask, on top of the keystore, the database,
 * the relay connection and delivery. Implements DaemonService.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { parseRelayAddress } from "../protocol/address.ts";
import { toBase64Url } from "../protocol/bytes.ts";
import { formatId, parseId, safetyNumber } from "../protocol/identity.ts";
import { Contacts } from "./contacts.ts";
import { checkOutgoing, lookupPeerKey } from "./outgoing.ts";
import { checkpoint, getSetting, setSetting, tx } from "./db.ts";
import { WorkBudget } from "./budget.ts";
import { Delivery } from "./delivery.ts";
import { Journal } from "./journal.ts";
import type { Identity, KeyFile, Keystore } from "./keystore.ts";
import { Messages } from "./messages.ts";
import { RelayClient } from "./relay_client.ts";
import { Requests } from "./requests.ts";
import type { Sealer } from "./sealer.ts";
import { Serial } from "./_serial.ts";
import { SessionManager } from "./sessions.ts";
import {
  type Contact,
  type DaemonService,
  type DaemonStatus,
  type JournalEvent,
  type Me,
  type MessageRecord,
  type MessageRequest,
  ServiceError,
} from "./service.ts";

/** The daemon's version, as /status shows it. */
export const DAEMON_VERSION = "0.1.0";
/** Undelivered messages fail after this long by default (7 days). */
export const DEFAULT_GIVE_UP_MS = 7 * 24 * 3600 * 1000;

/**
 * How soon superseded secrets leave the files: within this long of a write, the WAL is copied
 * back and truncated (db.ts checkpoint), so an old session key is gone from daemon.db-wal too.
 */
export const CHECKPOINT_MS = 1000;

/** Options of the engine. */
export interface EngineOptions {
  db: DatabaseSync;
  /** Seals the secrets stored in `db`. */
  sealer: Sealer;
  keystore: Keystore;
  keys: KeyFile;
  /** The relay address, or undefined to stay offline until one is configured. */
  relay?: string;
  now?: () => number;
  giveUpMs?: number;
  journalRetention?: number;
  initialBackoffMs?: number;
}

/** The daemon. */
export class Engine implements DaemonService {
  readonly #db: DatabaseSync;
  readonly #keystore: Keystore;
  readonly #now: () => number;
  readonly #serial = new Serial();
  readonly #journal: Journal;
  readonly #started: number;
  readonly #giveUpMs: number;
  #keys: KeyFile;
  #idText: string;
  #contacts: Contacts;
  #messages: Messages;
  #sessions: SessionManager;
  #requests: Requests;
  readonly #budget: WorkBudget;
  readonly #sealer: Sealer;
  #delivery: Delivery;
  #dirty = false;
  #checkpointTimer: ReturnType<typeof setInterval> | undefined;
  #relay: RelayClient | undefined;
  #relayAddress: string | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #acceptQueue: {
    peer: string;
    text: string;
    key: string | undefined;
    resolve: (m: MessageRecord) => void;
    reject: (e: unknown) => void;
  }[] = [];

  /** Wires the parts; call start() to connect. */
  constructor(o: EngineOptions) {
    this.#db = o.db;
    this.#keystore = o.keystore;
    this.#keys = o.keys;
    this.#now = o.now ?? Date.now;
    this.#started = this.#now();
    this.#giveUpMs = o.giveUpMs ?? DEFAULT_GIVE_UP_MS;
    this.#sealer = o.sealer;
    this.#budget = new WorkBudget(this.#now);
    this.#journal = new Journal(o.db, o.sealer, this.#now, o.journalRetention);
    this.#idText = formatId(o.keys.current.id);
    this.#contacts = new Contacts(o.db, o.sealer, this.#idText, this.#now);
    this.#messages = new Messages(o.db, this.#journal, o.sealer, this.#idText);
    this.#sessions = new SessionManager(
      o.db,
      o.sealer,
      this.#e2eKeys(o.keys.current),
      this.#now,
    );
    this.#requests = this.#makeRequests();
    this.#delivery = this.#makeDelivery();
    const relay = o.relay ?? getSetting(o.db, "relay");
    if (relay !== undefined) {
      parseRelayAddress(relay); // throws a TypeError that says what is wrong
      setSetting(o.db, "relay", relay);
      this.#relayAddress = relay;
    }
  }

  #e2eKeys(i: Identity) {
    return { id: i.id, idText: formatId(i.id), staticKey: i.e2eKey, vouch: i.vouch };
  }

  #makeRequests(): Requests {
    return new Requests({
      contacts: this.#contacts,
      messages: this.#messages,
      sessions: this.#sessions,
      myKey: () => this.#keys.current.signing.publicKey,
    });
  }

  #makeDelivery(): Delivery {
    return new Delivery({
      db: this.#db,
      messages: this.#messages,
      contacts: this.#contacts,
      sessions: this.#sessions,
      journal: this.#journal,
      requests: this.#requests,
      budget: this.#budget,
      // A macrotask, so that sockets (the API's /health among them) are served in between.
      pause: () => new Promise((r) => setTimeout(r, 0)),
      serial: this.#serial,
      write: (fn) => this.#write(fn),
      relay: () => this.#relay,
      me: () => this.#keys.current.id,
      now: this.#now,
    });
  }

  #write<T>(fn: () => T): T {
    try {
      const r = tx(this.#db, fn);
      this.#dirty = true;
      this.#journal.publish();
      return r;
    } catch (e) {
      this.#journal.publish(false);
      throw e;
    }
  }

  /** Connects to the relay and starts the timers. */
  start(): void {
    if (this.#relayAddress && !this.#relay) {
      this.#relay = new RelayClient({
        address: this.#relayAddress,
        identity: () => this.#keys.current,
        onDeliver: (from, env) => this.#delivery.onDeliver(from, env),
        onPresence: (id, online) => this.#delivery.onPresence(id, online),
        onState: (state, detail) => {
          this.#write(() =>
            this.#journal.append("relay", {
              state,
              ...(detail ? { reason: detail.reason, code: detail.code } : {}),
            })
          );
          if (state === "online") this.#delivery.onRelayOnline();
        },
        watchList: () => this.#watchList(),
      });
      this.#relay.start();
    }
    this.#timer ??= setInterval(() => this.#tick(), 1000);
    this.#checkpointTimer ??= setInterval(() => this.#checkpoint(), CHECKPOINT_MS);
  }

  /** Moves what the last writes superseded out of the WAL (see CHECKPOINT_MS). */
  #checkpoint(): void {
    if (!this.#dirty) return;
    void this.#serial.run(() => {
      this.#dirty = false;
      checkpoint(this.#db);
    }).catch(() => {}); // busy (a reader): the next tick tries again
  }

  /** Whom to watch: contacts only (never requests or strangers), those with mail first. */
  #watchList(): Uint8Array[] {
    const ids = new Set([
      ...this.#contacts.list().map((c) => c.id),
      ...this.#messages.peersWithPending(),
    ]);
    return [...ids].map(parseId);
  }

  #tick(): void {
    this.#delivery.tick();
    const expired = this.#messages.expired(this.#now() - this.#giveUpMs);
    if (expired.length > 0) {
      void this.#serial.run(() =>
        this.#write(() => {
          for (const id of expired) {
            this.#messages.markFailed(id, "not delivered within the give-up time");
          }
        })
      );
    }
  }

  /** Disconnects and stops the timers. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    clearInterval(this.#checkpointTimer);
    this.#timer = this.#checkpointTimer = undefined;
    await this.#relay?.stop();
    await this.#serial.run(() => {
      if (this.#dirty) checkpoint(this.#db);
    });
  }

  me(): Me {
    const c = this.#keys.current;
    return {
      id: this.#idText,
      identity_key: toBase64Url(c.signing.publicKey),
      safety_number: safetyNumber(c.signing.publicKey),
      relay: this.#relayAddress ?? null,
      retired: this.#keys.retired.map((r) => ({
        id: formatId(r.id),
        identity_key: toBase64Url(r.signing.publicKey),
      })),
    };
  }

  status(): DaemonStatus {
    return {
      version: DAEMON_VERSION,
      id: this.#idText,
      relay: { address: this.#relayAddress ?? null, state: this.#relay?.state ?? "offline" },
      outbox: this.#messages.outboxStats(),
      sessions: this.#sessions.count(),
      contacts: this.#contacts.count("contact"),
      uptime_ms: this.#now() - this.#started,
      last_event_id: this.#journal.lastId(),
    };
  }

  async send(req: { to: string; text: string; idempotencyKey?: string }): Promise<MessageRecord> {
    const key = req.idempotencyKey;
    checkOutgoing(req.text, key);
    const peer = this.#contacts.resolve(req.to);
    if (peer === this.#idText) {
      throw new ServiceError("bad_request", "Cannot send a message to yourself");
    }
    if (key !== undefined) {
      const prior = this.#messages.byIdempotencyKey(key);
      if (prior) {
        if (prior.peer !== peer || prior.text !== req.text) {
          throw new ServiceError(
            "idempotency_conflict",
            "This idempotency key was used for another message",
          );
        }
        return prior;
      }
    }
    if (!this.#contacts.get(peer)?.identityKey) await this.#lookupKey(peer);
    const m = await this.#accept(peer, req.text, key);
    this.#relay?.watch([parseId(peer)]);
    this.#delivery.kick(peer);
    return m;
  }

  /**
   * Group commit: requests that arrive while a commit is under way are accepted together in the
   * next transaction (one fsync for many messages); each is durable before its promise resolves.
   */
  #accept(peer: string, text: string, key: string | undefined): Promise<MessageRecord> {
    const p = Promise.withResolvers<MessageRecord>();
    this.#acceptQueue.push({ peer, text, key, ...p });
    if (this.#acceptQueue.length === 1) {
      void this.#serial.run(() => {
        const batch = this.#acceptQueue.splice(0);
        let done: MessageRecord[];
        try {
          done = this.#write(() =>
            batch.map((a) => {
              const again = a.key !== undefined
                ? this.#messages.byIdempotencyKey(a.key)
                : undefined;
              if (again) return again;
              this.#contacts.ensure(a.peer);
              return this.#messages.accept(a.peer, a.text, a.key, this.#now());
            })
          );
        } catch (e) {
          for (const a of batch) a.reject(e);
          return;
        }
        batch.forEach((a, i) => {
          const r = done[i]!;
          if (r instanceof ServiceError) a.reject(r);
          else a.resolve(r);
        });
      });
    }
    return p.promise;
  }

  /** Pins a new peer's key from the relay's registry (see lookupPeerKey). */
  async #lookupKey(peer: string): Promise<void> {
    if (!this.#relayAddress) return;
    const key = await lookupPeerKey(this.#relayAddress, peer);
    if (key) this.#write(() => this.#contacts.pin(peer, key));
  }

  message(id: string): MessageRecord {
    return this.#messages.get(id);
  }

  messages(q: { with?: string; since?: number; limit?: number }): MessageRecord[] {
    const peer = q.with !== undefined ? this.#contacts.resolve(q.with) : undefined;
    return this.#messages.list(peer, q.since ?? 0, q.limit ?? 100);
  }

  #contact(id: string): Contact {
    const c = this.#contacts.get(id)!;
    return {
      id: c.id,
      name: c.name,
      identity_key: c.identityKey ? toBase64Url(c.identityKey) : null,
      verified: c.verified,
      online: this.#delivery.online(c.id),
      safety_number: Contacts.safety(this.#keys.current.signing.publicKey, c),
    };
  }

  contacts(): Contact[] {
    return this.#contacts.list().map((c) => this.#contact(c.id));
  }

  async addContact(req: { id: string; name?: string }): Promise<Contact> {
    let id: string;
    try {
      id = formatId(parseId(req.id));
    } catch (e) {
      throw new ServiceError("bad_request", (e as Error).message);
    }
    if (id === this.#idText) throw new ServiceError("bad_request", "You cannot add yourself");
    await this.#serial.run(() => this.#write(() => this.#contacts.add(id, req.name ?? null)));
    if (!this.#contacts.get(id)?.identityKey) {
      await this.#lookupKey(id).catch((e) => {
        this.#write(() => this.#contacts.remove(id));
        throw e;
      });
    }
    this.#relay?.watch([parseId(id)]);
    return this.#contact(id);
  }

  removeContact(idOrName: string): void {
    const id = this.#write(() => this.#contacts.remove(idOrName));
    this.#relay?.unwatch([parseId(id)]);
  }

  requests(): MessageRequest[] {
    return this.#requests.list();
  }

  acceptRequest(req: { id: string; name?: string }): Contact {
    const id = this.#requestId(req.id);
    const c = this.#write(() => this.#contacts.add(id, req.name ?? null));
    this.#relay?.watch([parseId(c.id)]);
    return this.#contact(c.id);
  }

  #requestId(id: string): string {
    let idText: string;
    try {
      idText = formatId(parseId(id));
    } catch (e) {
      throw new ServiceError("bad_request", (e as Error).message);
    }
    if (this.#contacts.kindOf(idText) !== "request") {
      throw new ServiceError("not_found", `No message request from ${idText}`);
    }
    return idText;
  }

  declineRequest(id: string): void {
    this.#write(() => this.#requests.decline(id));
  }

  block(idOrName: string): { id: string } {
    const id = this.#write(() => this.#requests.block(idOrName));
    this.#relay?.unwatch([parseId(id)]);
    return { id };
  }

  unblock(id: string): void {
    this.#write(() => this.#requests.unblock(id));
  }

  blocked(): string[] {
    return this.#contacts.list("blocked").map((c) => c.id);
  }

  verifyContact(idOrName: string, verified: boolean): Contact {
    const c = this.#write(() => this.#contacts.verify(idOrName, verified));
    return this.#contact(c.id);
  }

  async rotateIdentity(): Promise<Me> {
    await this.#serial.run(async () => {
      this.#keys = await this.#keystore.rotate(new Date(this.#now()));
      this.#idText = formatId(this.#keys.current.id);
      this.#contacts.me = this.#idText;
      this.#messages.me = this.#idText;
      this.#sessions.reset(this.#e2eKeys(this.#keys.current));
      this.#delivery.reset();
    });
    this.#relay?.reconnect();
    return this.me();
  }

  async removeRetired(id: string): Promise<Me> {
    const removed = await this.#serial.run(async () => {
      if (!(await this.#keystore.removeRetired(id))) return false;
      this.#keys = await this.#keystore.keys();
      return true;
    });
    if (!removed) throw new ServiceError("not_found", `No retired identity ${id.slice(0, 80)}`);
    return this.me();
  }

  eventsSince(since: number, limit: number): JournalEvent[] {
    return this.#journal.since(since, limit);
  }

  lastEventId(): number {
    return this.#journal.lastId();
  }

  subscribe(fn: (e: JournalEvent) => void): () => void {
    return this.#journal.subscribe(fn);
  }
}
