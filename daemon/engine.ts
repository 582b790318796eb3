/**
 * The daemon's service: everything the local API can ask, on top of the keystore, the store, the
 * relay connection and delivery. Implements DaemonService.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { setImmediate } from "node:timers";
import { parseRelayAddress } from "../protocol/address.ts";
import { toBase64Url } from "../protocol/bytes.ts";
import { fingerprint, formatId, parseId } from "../protocol/identity.ts";
import { WorkBudget } from "./budget.ts";
import { Contacts } from "./contacts.ts";
import { checkpoint, getSetting, setSetting } from "./db.ts";
import { Delivery } from "./delivery.ts";
import { Journal } from "./journal.ts";
import { AUTH_HINT } from "./lifecycle_log.ts";
import type { KeyFile, Keystore } from "./keystore.ts";
import { Messages } from "./messages.ts";
import { checkOutgoing, lookupPeerKey } from "./outgoing.ts";
import { Outbox } from "./outbox.ts";
import { Recipients } from "./recipients.ts";
import { RelayClient } from "./relay_client.ts";
import { Requests } from "./requests.ts";
import type { Sealer } from "./sealer.ts";
import { Self } from "./self.ts";
import { Serial } from "./_serial.ts";
import { SessionManager } from "./sessions.ts";
import { Store } from "./store.ts";
import {
  BUSY_RETRY_AFTER_S,
  type Contact,
  type DaemonService,
  type DaemonStatus,
  type JournalEvent,
  type Me,
  type MessageRecord,
  type MessageRequest,
  type MessagesQuery,
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
  /**
   * Makes commits durable when `db` was opened with groupSync (db.ts walSync); without it every
   * COMMIT must be durable itself (synchronous=FULL).
   */
  durable?: () => Promise<void>;
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
  readonly #store: Store;
  readonly #keystore: Keystore;
  readonly #now: () => number;
  readonly #serial = new Serial();
  readonly #started: number;
  readonly #giveUpMs: number;
  readonly #self: Self;
  readonly #journal: Journal;
  readonly #contacts: Contacts;
  readonly #messages: Messages;
  readonly #outbox = new Outbox();
  readonly #sessions: SessionManager;
  readonly #requests: Requests;
  readonly #delivery: Delivery;
  readonly #recipients: Recipients;
  #keys: KeyFile;
  #relay: RelayClient | undefined;
  #relayAddress: string | undefined;
  #timers: ReturnType<typeof setInterval>[] = [];
  readonly #initialBackoffMs: number | undefined;
  #lastRelayError: DaemonStatus["relay"]["last_error"] = null;

  /** Wires the parts and reads the outbox; call start() to connect. */
  constructor(o: EngineOptions) {
    this.#store = new Store(o.db, o.sealer, o.durable);
    this.#keystore = o.keystore;
    this.#keys = o.keys;
    this.#now = o.now ?? Date.now;
    this.#started = this.#now();
    this.#giveUpMs = o.giveUpMs ?? DEFAULT_GIVE_UP_MS;
    this.#initialBackoffMs = o.initialBackoffMs;
    this.#self = new Self(o.keys.current);
    this.#journal = new Journal(this.#store, this.#now, o.journalRetention);
    this.#contacts = new Contacts(this.#store, this.#self, this.#now);
    this.#messages = new Messages(this.#store, this.#journal, this.#self);
    this.#sessions = new SessionManager(this.#store, this.#self, this.#now);
    this.#requests = new Requests({
      contacts: this.#contacts,
      messages: this.#messages,
      sessions: this.#sessions,
      outbox: this.#outbox,
      myKey: () => this.#self.identity.signing.publicKey,
    });
    this.#delivery = new Delivery({
      store: this.#store,
      self: this.#self,
      messages: this.#messages,
      outbox: this.#outbox,
      contacts: this.#contacts,
      sessions: this.#sessions,
      requests: this.#requests,
      budget: new WorkBudget(this.#now),
      // A macrotask after I/O, so that sockets (the API's /health among them) are served in
      // between (setImmediate: setTimeout(0) is clamped to milliseconds when nested).
      pause: () => new Promise((r) => setImmediate(r)),
      serial: this.#serial,
      relay: () => this.#relay,
      now: this.#now,
      onError: (peer, e) => this.#error(peer, e),
    });
    this.#recipients = new Recipients({
      store: this.#store,
      contacts: this.#contacts,
      messages: this.#messages,
      outbox: this.#outbox,
      lookup: (peer) => lookupPeerKey(this.#relayAddress!, peer),
      online: () => this.#relayAddress !== undefined && this.#relay?.state === "online",
      now: this.#now,
      onFailed: (peer, _failed, dropped) => {
        if (dropped) this.#relay?.unwatch([parseId(peer)]);
      },
      onError: (peer, e) => this.#error(peer, e),
    });
    this.#outbox.load(this.#messages.allPending());
    const relay = o.relay ?? getSetting(o.db, "relay");
    if (relay !== undefined) {
      parseRelayAddress(relay); // throws a TypeError that says what is wrong
      setSetting(o.db, "relay", relay);
      this.#relayAddress = relay;
    }
  }

  #error(peer: string | null, e: unknown): void {
    const code = (e as { code?: string }).code ?? "internal";
    void this.#store.write(() =>
      this.#journal.append("error", { code, message: (e as Error).message, peer })
    ).catch(() => {});
  }

  /** Connects to the relay and starts the timers. */
  start(): void {
    if (this.#relayAddress && !this.#relay) {
      this.#relay = new RelayClient({
        address: this.#relayAddress,
        identity: () => this.#self.identity,
        onDeliver: (from, env) => this.#delivery.onDeliver(from, env),
        onPresence: (id, online) => {
          if (this.#delivery.onPresence(id, online)) {
            void this.#store.write(() =>
              this.#journal.append("presence", { id: formatId(id), online })
            );
          }
        },
        onState: (state, detail) => {
          void this.#store.write(() =>
            this.#journal.append("relay", {
              state,
              ...(detail ? { reason: detail.reason, code: detail.code } : {}),
              ...(detail?.retryInMs === undefined ? {} : { retry_in_ms: detail.retryInMs }),
            })
          );
          if (state === "online") this.#lastRelayError = null;
          else if (detail) {
            this.#lastRelayError = {
              code: detail.code,
              reason: detail.reason,
              at: this.#now(),
              ...(detail.code === "auth_failed" ? { hint: AUTH_HINT } : {}),
            };
          }
          if (state === "online") {
            this.#delivery.onRelayOnline();
            this.#recipients.onRelayOnline();
          }
        },
        watchList: () => this.#watchList(),
        ...(this.#initialBackoffMs === undefined
          ? {}
          : { initialBackoffMs: this.#initialBackoffMs }),
      });
      this.#relay.start();
    }
    if (this.#timers.length > 0) return;
    this.#timers.push(setInterval(() => this.#tick(), 1000));
    this.#timers.push(setInterval(() => this.#checkpoint(), CHECKPOINT_MS));
  }

  /** Moves what the last writes superseded out of the WAL (see CHECKPOINT_MS). */
  #checkpoint(): void {
    if (!this.#store.dirty) return;
    void this.#serial.run(() => {
      this.#store.flush();
      this.#store.dirty = false;
      checkpoint(this.#store.db);
    }).catch(() => {}); // busy (a reader): the next tick tries again
  }

  /** Whom to watch: contacts only (never requests or strangers), and peers with mail. */
  #watchList(): Uint8Array[] {
    const ids = new Set([
      ...this.#contacts.list().map((c) => c.id),
      ...this.#outbox.peers(),
    ]);
    return [...ids].map(parseId);
  }

  #tick(): void {
    this.#delivery.tick();
    this.#recipients.run();
    this.#delivery.giveUp(this.#now() - this.#giveUpMs, "not delivered within the give-up time");
  }

  /** Disconnects, commits what is queued and stops the timers. */
  async stop(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    await this.#relay?.stop();
    await this.#store.synced(); // what is committed is durable and announced
    await this.#serial.run(() => {
      this.#store.flush();
      if (this.#store.dirty) checkpoint(this.#store.db);
    });
  }

  me(): Me {
    const c = this.#self.identity;
    return {
      id: this.#self.idText,
      identity_key: toBase64Url(c.signing.publicKey),
      fingerprint: fingerprint(c.signing.publicKey),
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
      id: this.#self.idText,
      relay: {
        address: this.#relayAddress ?? null,
        state: this.#relay?.state ?? "offline",
        last_error: this.#relayAddress
          ? this.#lastRelayError
          : { code: null, reason: "no relay configured", at: this.#started },
      },
      outbox: this.#outbox.stats(),
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
    if (peer === this.#self.idText) {
      throw new ServiceError("bad_request", "Cannot send a message to yourself");
    }
    if (key !== undefined) {
      const prior = this.#messages.byIdempotencyKey(key);
      if (prior) return this.#sameMessage(prior, peer, req.text);
    }
    if (this.#outbox.full) {
      throw new ServiceError(
        "busy",
        `The outbox is full (${this.#outbox.size} undelivered); retry in ${BUSY_RETRY_AFTER_S} s`,
      );
    }
    if (!this.#contacts.get(peer)?.identityKey) await this.#lookupKey(peer);
    const me = this.#self.idText;
    let sealed: ReturnType<Delivery["sealAccepted"]>;
    const { m, eventId, replay } = await this.#store.write(() => {
      sealed?.cancel(); // the operation runs again (store.ts): the first run's seal is void
      sealed = undefined;
      if (key !== undefined) {
        const again = this.#messages.byIdempotencyKey(key); // accepted meanwhile
        if (again) return { m: undefined, eventId: 0, replay: again };
      }
      this.#contacts.ensure(peer);
      const accepted = this.#messages.accept(peer, req.text, key, this.#now());
      // Sealed in this same transaction when it can go at once (see Delivery.sealAccepted).
      sealed = this.#delivery.sealAccepted(accepted.m);
      return { ...accepted, replay: undefined };
    }).catch((e) => {
      sealed?.cancel();
      throw e;
    });
    const go = sealed as ReturnType<Delivery["sealAccepted"]>;
    if (replay) return this.#sameMessage(replay, peer, req.text);
    if (this.#self.idText !== me) {
      go?.cancel();
      throw new ServiceError("internal", "The identity changed");
    }
    this.#outbox.add(m!);
    this.#relay?.watch([parseId(peer)]);
    if (go) go.go();
    else this.#delivery.kick(peer);
    return {
      id: m!.id,
      direction: "out",
      peer,
      peer_name: this.#contacts.get(peer)?.name ?? null,
      text: m!.text,
      ts: m!.ts,
      seq: m!.seq,
      status: "queued",
      event_id: eventId,
    };
  }

  #sameMessage(prior: MessageRecord, peer: string, text: string): MessageRecord {
    if (prior.peer !== peer || prior.text !== text) {
      throw new ServiceError(
        "idempotency_conflict",
        "This idempotency key was used for another message",
      );
    }
    return prior;
  }

  /** Pins a new peer's key from the relay's registry (see lookupPeerKey). */
  async #lookupKey(peer: string): Promise<void> {
    if (!this.#relayAddress) return;
    const key = await lookupPeerKey(this.#relayAddress, peer);
    if (key) await this.#store.write(() => this.#contacts.pin(peer, key));
  }

  message(id: string): MessageRecord {
    return this.#messages.get(id);
  }

  async cancelMessage(id: string): Promise<MessageRecord> {
    await this.#delivery.cancel(id);
    return this.#messages.get(id);
  }

  messages(q: MessagesQuery): MessageRecord[] {
    const peer = q.with !== undefined ? this.#contacts.resolve(q.with) : undefined;
    return this.#messages.list({
      peer,
      since: q.since ?? 0,
      sinceTs: q.sinceTs ?? 0,
      limit: q.limit ?? 100,
      desc: q.order === "desc",
    });
  }

  eventBefore(ts: number): number {
    return this.#journal.before(ts);
  }

  #contact(id: string): Contact {
    const c = this.#contacts.get(id)!;
    return {
      id: c.id,
      name: c.name,
      identity_key: c.identityKey ? toBase64Url(c.identityKey) : null,
      verified: c.verified,
      online: this.#delivery.online(c.id),
      safety_number: Contacts.safety(this.#self.identity.signing.publicKey, c),
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
    if (id === this.#self.idText) throw new ServiceError("bad_request", "You cannot add yourself");
    await this.#store.write(() => this.#contacts.add(id, req.name ?? null));
    if (!this.#contacts.get(id)?.identityKey) {
      await this.#lookupKey(id).catch(async (e) => {
        await this.#store.write(() => this.#contacts.remove(id));
        throw e;
      });
    }
    this.#relay?.watch([parseId(id)]);
    return this.#contact(id);
  }

  async removeContact(idOrName: string): Promise<void> {
    const id = await this.#store.write(() => this.#contacts.remove(idOrName));
    this.#relay?.unwatch([parseId(id)]);
  }

  async verifyContact(idOrName: string, verified: boolean): Promise<Contact> {
    const c = await this.#store.write(() => this.#contacts.verify(idOrName, verified));
    return this.#contact(c.id);
  }

  requests(): MessageRequest[] {
    return this.#requests.list();
  }

  async acceptRequest(req: { id: string; name?: string }): Promise<Contact> {
    const c = await this.#store.write(() => {
      const id = this.#requests.check(req.id);
      return this.#contacts.add(id, req.name ?? null);
    });
    this.#relay?.watch([parseId(c.id)]);
    return this.#contact(c.id);
  }

  async declineRequest(id: string): Promise<void> {
    await this.#store.write(() => this.#requests.decline(id));
  }

  async block(idOrName: string): Promise<{ id: string }> {
    const { id, failed } = await this.#store.write(() => this.#requests.block(idOrName));
    this.#outbox.remove(failed);
    this.#relay?.unwatch([parseId(id)]);
    return { id };
  }

  async unblock(id: string): Promise<void> {
    await this.#store.write(() => this.#requests.unblock(id));
  }

  blocked(): string[] {
    return this.#contacts.list("blocked").map((c) => c.id);
  }

  async rotateIdentity(): Promise<Me> {
    await this.#serial.run(async () => {
      this.#store.flush();
      this.#keys = await this.#keystore.rotate(new Date(this.#now()));
      this.#self.become(this.#keys.current);
      this.#sessions.clear();
      this.#delivery.reset();
      this.#outbox.load(this.#messages.allPending());
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
