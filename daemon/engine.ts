/**
 * The daemon's service: everything the local API can ask, on top of the keystore, the store, the
 * relay connection and delivery. Implements DaemonService.
 *
 * The parts are wired in _engine_parts.ts; sending, contacts and requests, the identity and the
 * relay client's wiring live in the other `_engine_*.ts` helpers, which the Engine delegates to.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import type { Contacts } from "./contacts.ts";
import { checkpoint, getSetting, setSetting } from "./db.ts";
import type { Delivery } from "./delivery.ts";
import type { FilesOptions } from "./files.ts";
import * as F from "./_engine_files.ts";
import * as G from "./_engine_groups.ts";
import type { Journal } from "./journal.ts";
import type { KeyFile, Keystore } from "./keystore.ts";
import type { Messages } from "./messages.ts";
import type { Outbox } from "./outbox.ts";
import type { Recipients } from "./recipients.ts";
import type { RelayClient } from "./relay_client.ts";
import type { Sealer } from "./sealer.ts";
import type { Self } from "./self.ts";
import type { Serial } from "./_serial.ts";
import type { SessionManager } from "./sessions.ts";
import type { Store } from "./store.ts";
import {
  acceptRequest,
  addContact,
  block,
  blocked,
  contacts,
  declineRequest,
  removeContact,
  requests,
  unblock,
  verifyContact,
} from "./_engine_contacts.ts";
import { type EngineParts, wireParts } from "./_engine_parts.ts";
import { checkSendCapacity, send } from "./_engine_send.ts";
import { type IdentityKeys, me, removeRetired, rotateIdentity } from "./_engine_identity.ts";
import {
  connectRelay,
  currentRelay,
  type LastRelayError,
  relaySetting,
  relayStatus,
} from "./_engine_relay.ts";
import {
  type Contact,
  type DaemonService,
  type DaemonStatus,
  type FileRecord,
  type GroupFiles,
  type JournalEvent,
  type Me,
  type MessageRecord,
  type MessageRequest,
  type MessagesQuery,
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
  /** The file store (its directory and limits); without it, files are neither sent nor taken. */
  files?: FilesOptions;
}

/** The daemon. */
export class Engine implements DaemonService {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #serial: Serial;
  readonly #started: number;
  readonly #giveUpMs: number;
  readonly #self: Self;
  readonly #journal: Journal;
  readonly #contacts: Contacts;
  readonly #messages: Messages;
  readonly #outbox: Outbox;
  readonly #sessions: SessionManager;
  /** A sweep of expired skipped keys is queued or running. */
  #sweeping = false;
  readonly #delivery: Delivery;
  readonly #recipients: Recipients;
  /** The key file, which rotateIdentity and removeRetired replace. */
  readonly #identity: IdentityKeys;
  #relay: RelayClient | undefined;
  /** The relay setting: one address or a comma-separated list (_engine_relay.ts). */
  #relayAddress: string | undefined;
  #timers: ReturnType<typeof setInterval>[] = [];
  readonly #initialBackoffMs: number | undefined;
  #lastRelayError: LastRelayError = null;
  /** The parts, as the `_engine_*.ts` helpers use them. */
  readonly #parts: EngineParts;

  /** Wires the parts and reads the outbox; call start() to connect. */
  constructor(o: EngineOptions) {
    this.#identity = { keystore: o.keystore, keys: o.keys };
    this.#now = o.now ?? Date.now;
    this.#started = this.#now();
    this.#giveUpMs = o.giveUpMs ?? DEFAULT_GIVE_UP_MS;
    this.#initialBackoffMs = o.initialBackoffMs;
    this.#parts = wireParts(
      o,
      this.#now,
      () => this.#relay,
      () => currentRelay(this.#relayAddress, this.#relay),
    );
    this.#store = this.#parts.store;
    this.#serial = this.#parts.serial;
    this.#self = this.#parts.self;
    this.#journal = this.#parts.journal;
    this.#contacts = this.#parts.contacts;
    this.#messages = this.#parts.messages;
    this.#outbox = this.#parts.outbox;
    this.#sessions = this.#parts.sessions;
    this.#delivery = this.#parts.delivery;
    this.#recipients = this.#parts.recipients;
    this.#outbox.load(this.#messages.allPending());
    this.#parts.files?.resume();
    const relay = o.relay ?? getSetting(o.db, "relay");
    if (relay !== undefined) {
      // One address or a list (comma-separated); throws a TypeError that says what is wrong.
      this.#relayAddress = relaySetting(relay);
      setSetting(o.db, "relay", this.#relayAddress);
    }
  }

  /** Connects to the relay and starts the timers. */
  start(): void {
    if (this.#relayAddress && !this.#relay) {
      this.#relay = connectRelay(
        this.#parts,
        this.#relayAddress,
        this.#initialBackoffMs,
        (e) => {
          this.#lastRelayError = e;
        },
      );
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

  #tick(): void {
    this.#delivery.tick();
    this.#recipients.run();
    this.#delivery.giveUp(this.#now() - this.#giveUpMs, "not delivered within the give-up time");
    this.#expireSkipped();
  }

  /**
   * Skipped message keys expire RATCHET_SKIPPED_MAX_AGE_MS after they were derived, in a session
   * that stays quiet too (its next message would drop them): checked every tick with one indexed
   * query, swept in the serial queue, between the pump's uses of a session.
   */
  #expireSkipped(): void {
    if (this.#sweeping || !this.#sessions.expiryDue(this.#now())) return;
    this.#sweeping = true;
    void this.#serial.run(() => this.#store.write(() => this.#sessions.expireSkipped(this.#now())))
      .catch(() => {}) // a failed write: the next tick tries again
      .finally(() => (this.#sweeping = false));
  }

  /** Disconnects, commits what is queued and stops the timers. */
  async stop(): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.#delivery.stop();
    await this.#relay?.stop();
    await this.#store.synced(); // what is committed is durable and announced
    await this.#serial.run(() => {
      this.#store.flush();
      if (this.#store.dirty) checkpoint(this.#store.db);
    });
  }

  me(): Me {
    return me(this.#parts, this.#identity);
  }

  status(): DaemonStatus {
    return {
      version: DAEMON_VERSION,
      id: this.#self.idText,
      relay: relayStatus(this.#relayAddress, this.#relay, this.#lastRelayError, this.#started),
      outbox: this.#outbox.stats(),
      sessions: this.#sessions.count(),
      contacts: this.#contacts.count("contact"),
      uptime_ms: this.#now() - this.#started,
      last_event_id: this.#journal.lastId(),
    };
  }

  send(req: { to: string; text: string; idempotencyKey?: string }): Promise<MessageRecord> {
    return send(this.#parts, req);
  }

  checkSendCapacity(): void {
    checkSendCapacity(this.#parts);
  }

  message(id: string): MessageRecord {
    return G.groupMessage(this.#messages, id) ?? this.#messages.get(id);
  }

  async cancelMessage(id: string): Promise<MessageRecord> {
    if (G.groupMessage(this.#messages, id)) return await G.cancelGroupMessage(this.#parts, id);
    await this.#delivery.cancel(id);
    return this.#messages.get(id);
  }

  messages(q: MessagesQuery): MessageRecord[] {
    return G.listMessages(this.#parts, q); // with a peer, a group, or all
  }

  eventBefore(ts: number): number {
    return this.#journal.before(ts);
  }

  // Contacts, requests, blocks (_engine_contacts.ts).
  contacts = (): Contact[] => contacts(this.#parts);
  addContact = (req: { id: string; name?: string }): Promise<Contact> =>
    addContact(this.#parts, req);
  removeContact = (idOrName: string): Promise<void> => removeContact(this.#parts, idOrName);
  verifyContact = (idOrName: string, verified: boolean): Promise<Contact> =>
    verifyContact(this.#parts, idOrName, verified);
  requests = (): MessageRequest[] => requests(this.#parts);
  acceptRequest = (req: { id: string; name?: string }): Promise<Contact> =>
    acceptRequest(this.#parts, req);
  declineRequest = (id: string): Promise<void> => declineRequest(this.#parts, id);
  block = (idOrName: string): Promise<{ id: string }> => block(this.#parts, idOrName);
  unblock = (id: string): Promise<void> => unblock(this.#parts, id);
  blocked = (): string[] => blocked(this.#parts);

  rotateIdentity(): Promise<Me> {
    return rotateIdentity(this.#parts, this.#identity);
  }

  removeRetired(id: string): Promise<Me> {
    return removeRetired(this.#parts, this.#identity, id);
  }

  eventsSince(since: number, limit: number): JournalEvent[] {
    return this.#journal.since(since, limit);
  }

  lastEventId(): number {
    return this.#journal.lastId();
  }

  // Files (_engine_files.ts).
  sendFile = (req: F.FileUpload): Promise<FileRecord | GroupFiles> => F.sendFile(this.#parts, req);
  fileLimits = () => ({ maxFileBytes: this.#parts.files?.files.opts.maxFileBytes ?? 0 });
  files = (q: { with?: string; limit?: number }): FileRecord[] => F.listFiles(this.#parts, q);
  file = (id: string): FileRecord => this.#parts.files!.files.record(F.fileRow(this.#parts, id));
  acceptFile = (id: string): Promise<FileRecord> => F.acceptFile(this.#parts, id);
  deleteFile = (id: string): Promise<FileRecord> => F.deleteFile(this.#parts, id);
  fileContent = (id: string, range?: { start: number; end: number }) =>
    F.fileContent(this.#parts, id, range);

  // Groups (_engine_groups.ts).
  createGroup = (req: { name: string; members: string[] }) => G.createGroup(this.#parts, req);
  groups = () => G.groupsOf(this.#parts).list().map((g) => G.groupsOf(this.#parts).record(g));
  group = (idOrName: string) =>
    G.groupsOf(this.#parts).record(G.groupsOf(this.#parts).resolve(idOrName));
  addGroupMembers = (idOrName: string, req: { members: string[]; admin?: boolean }) =>
    G.addGroupMembers(this.#parts, idOrName, req);
  removeGroupMember = (idOrName: string, member: string) =>
    G.removeGroupMember(this.#parts, idOrName, member);
  leaveGroup = (idOrName: string) => G.leaveGroup(this.#parts, idOrName);
  nameGroup = (idOrName: string, name: string | null) => G.nameGroup(this.#parts, idOrName, name);

  subscribe(fn: (e: JournalEvent) => void): () => void {
    return this.#journal.subscribe(fn);
  }
}
