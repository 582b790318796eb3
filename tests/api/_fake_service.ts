/**
 * A fake DaemonService for the API tests: in memory, counts every call, and lets a test emit
 * journal events, make the next call fail, or make the journal lag behind the subscription.
 * What a request means is checked with the daemon's own rules (texts, names, ids), as the API
 * leaves that to the service.
 *
 * @module
 */
import {
  type Contact,
  type DaemonService,
  type DaemonStatus,
  type EventType,
  type JournalEvent,
  type Me,
  type MessageRecord,
  type MessageRequest,
  type MessagesQuery,
  ServiceError,
} from "../../daemon/service.ts";
import { checkName } from "../../daemon/contacts.ts";
import { FakeGroups } from "./_fake_groups.ts";
import { checkOutgoing } from "../../daemon/outgoing.ts";
import { formatId, parseId } from "../../protocol/identity.ts";

/** A client id (valid version-8 UUID) for tests. */
export const ALICE_ID = "0b3e51c2-6f1d-8a4e-9c1b-2d3e4f5a6b7c";
/** Another one. */
export const BOB_ID = "1c4f62d3-7a2e-8b5f-ad2c-3e4f5a6b7c8d";
/** This daemon's id. */
export const ME_ID = "2d5a73e4-8b3f-8c6a-be3d-4f5a6b7c8d9e";
/** The fake's fingerprint (of its key alone; /me shows no safety number). */
export const FAKE_FINGERPRINT = "0a1b 2c3d 4e5f 6a7b 8c9d 0e1f 2a3b 4c5d";

/** The fake. */
export class FakeService extends FakeGroups implements DaemonService {
  /** Names of the methods called, in order. */
  readonly calls: string[] = [];
  /** Arguments of the `send` calls. */
  readonly sends: { to: string; text: string; idempotencyKey?: string }[] = [];
  /** DaemonService.checkSendCapacity: a test sets it to refuse sends for load. */
  checkSendCapacity?: () => void;
  /** Arguments of the `messages` calls. */
  readonly queries: MessagesQuery[] = [];
  /** The journal. */
  readonly journal: JournalEvent[] = [];
  /** Messages by id. */
  readonly store = new Map<string, MessageRecord>();
  /** Contacts. */
  contacts_: Contact[] = [{ ...contact(ALICE_ID, "alice") }];
  /** When set, the next call throws it. */
  failNext: Error | null = null;
  /** eventsSince hides this many newest events (a journal that lags the subscription). */
  journalLag = 0;
  /** Called inside eventsSince, before the page is taken (to emit events mid-replay). */
  onEventsSince: ((since: number) => void) | null = null;
  #subs = new Set<(e: JournalEvent) => void>();
  #waiters: { n: number; resolve: () => void }[] = [];
  #keys = new Map<string, MessageRecord>();

  /** Subscribers right now. */
  get subscribers(): number {
    return this.#subs.size;
  }

  /** Resolves once the number of subscribers is `n`. */
  waitSubscribers(n: number): Promise<void> {
    if (this.#subs.size === n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }

  #subsChanged(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (w.n !== this.#subs.size) return true;
      w.resolve();
      return false;
    });
  }

  #call(name: string): void {
    this.calls.push(name);
    const e = this.failNext;
    if (e) {
      this.failNext = null;
      throw e;
    }
  }

  /**
   * Appends an event to the journal and hands it to every subscriber. Its data may be anything:
   * the stream carries it as it is (the daemon's own events are typed by Journal.append).
   */
  emit(type: EventType, data: Record<string, unknown> = {}): JournalEvent {
    const e = { id: this.journal.length + 1, type, data } as JournalEvent;
    this.journal.push(e);
    for (const fn of [...this.#subs]) fn(e);
    return e;
  }

  me(): Me {
    this.#call("me");
    return {
      id: ME_ID,
      identity_key: "k".repeat(43),
      fingerprint: FAKE_FINGERPRINT,
      relay: null,
      retired: [],
    };
  }

  status(): DaemonStatus {
    this.#call("status");
    return {
      version: "0.1.0",
      id: ME_ID,
      relay: { address: null, state: "offline", last_error: null },
      outbox: { size: 0, oldest: null },
      sessions: 0,
      contacts: this.contacts_.length,
      uptime_ms: 1,
      last_event_id: this.journal.length,
    };
  }

  send(req: { to: string; text: string; idempotencyKey?: string }): Promise<MessageRecord> {
    this.#call("send");
    this.sends.push(req);
    const c = this.contacts_.find((c) => c.name === req.to || c.id === req.to);
    if (!c) throw new ServiceError("recipient_unknown", `No contact or id "${req.to}"`);
    const key = req.idempotencyKey;
    checkOutgoing(req.text, key);
    const prior = key === undefined ? undefined : this.#keys.get(key);
    if (prior) {
      if (prior.text !== req.text || prior.peer !== c.id) {
        throw new ServiceError("idempotency_conflict", "Key used for another message");
      }
      return Promise.resolve(prior);
    }
    const rec: MessageRecord = {
      id: crypto.randomUUID(),
      direction: "out",
      peer: c.id,
      peer_name: c.name,
      text: req.text,
      ts: Date.now(),
      seq: this.store.size + 1,
      status: "queued",
      event_id: this.emit("status", { id: "m", to: c.id, status: "queued", seq: 1 }).id,
    };
    this.store.set(rec.id, rec);
    if (key !== undefined) this.#keys.set(key, rec);
    return Promise.resolve(rec);
  }

  message(id: string): MessageRecord {
    this.#call("message");
    const m = this.store.get(id);
    if (!m) throw new ServiceError("not_found", `No message ${id}`);
    return m;
  }

  cancelMessage(id: string): Promise<MessageRecord> {
    this.#call("cancelMessage");
    const m = this.store.get(id);
    if (!m) throw new ServiceError("not_found", `No message ${id}`);
    if (m.status === "delivered") throw new ServiceError("already_delivered", `${id} delivered`);
    if (m.status !== "failed") Object.assign(m, { status: "failed", reason: "cancelled" });
    return Promise.resolve(m);
  }

  messages(q: MessagesQuery): MessageRecord[] {
    this.#call("messages");
    this.queries.push(q);
    return [...this.store.values()].slice(0, q.limit);
  }

  contacts(): Contact[] {
    this.#call("contacts");
    return this.contacts_;
  }

  addContact(req: { id: string; name?: string }): Promise<Contact> {
    this.#call("addContact");
    try {
      formatId(parseId(req.id));
    } catch (e) {
      throw new ServiceError("bad_request", (e as Error).message);
    }
    if (req.name !== undefined) checkName(req.name);
    if (this.contacts_.some((c) => c.id === req.id)) {
      throw new ServiceError("contact_exists", "Already a contact");
    }
    if (req.name !== undefined && this.contacts_.some((c) => c.name === req.name)) {
      throw new ServiceError("name_taken", `"${req.name}" is taken`);
    }
    const c = contact(req.id, req.name ?? null);
    this.contacts_.push(c);
    return Promise.resolve(c);
  }

  // deno-lint-ignore require-await
  async removeContact(idOrName: string): Promise<void> {
    this.#call("removeContact");
    const before = this.contacts_.length;
    this.contacts_ = this.contacts_.filter((c) => c.id !== idOrName && c.name !== idOrName);
    if (this.contacts_.length === before) {
      throw new ServiceError("recipient_unknown", "No such contact");
    }
  }

  // deno-lint-ignore require-await
  async verifyContact(idOrName: string, verified: boolean): Promise<Contact> {
    this.#call("verifyContact");
    const c = this.contacts_.find((c) => c.id === idOrName || c.name === idOrName);
    if (!c) throw new ServiceError("recipient_unknown", "No such contact");
    c.verified = verified;
    return c;
  }

  /** Pending requests the fake answers with. */
  requests_: MessageRequest[] = [];
  /** Blocked ids. */
  blocked_: string[] = [];

  requests(): MessageRequest[] {
    this.#call("requests");
    return this.requests_;
  }

  // deno-lint-ignore require-await
  async acceptRequest(req: { id: string; name?: string }): Promise<Contact> {
    this.#call("acceptRequest");
    if (req.name !== undefined) checkName(req.name);
    const r = this.requests_.find((r) => r.id === req.id);
    if (!r) throw new ServiceError("not_found", "No such request");
    this.requests_ = this.requests_.filter((x) => x !== r);
    const c = contact(req.id, req.name ?? null);
    this.contacts_.push(c);
    return c;
  }

  // deno-lint-ignore require-await
  async declineRequest(id: string): Promise<void> {
    this.#call("declineRequest");
    const before = this.requests_.length;
    this.requests_ = this.requests_.filter((r) => r.id !== id);
    if (this.requests_.length === before) throw new ServiceError("not_found", "No such request");
  }

  // deno-lint-ignore require-await
  async block(idOrName: string): Promise<{ id: string }> {
    this.#call("block");
    const id = this.contacts_.find((c) => c.name === idOrName)?.id ?? idOrName;
    this.blocked_.push(id);
    return { id };
  }

  // deno-lint-ignore require-await
  async unblock(id: string): Promise<void> {
    this.#call("unblock");
    if (!this.blocked_.includes(id)) throw new ServiceError("not_found", "Not blocked");
    this.blocked_ = this.blocked_.filter((b) => b !== id);
  }

  blocked(): string[] {
    this.#call("blocked");
    return this.blocked_;
  }

  removeRetired(id: string): Promise<Me> {
    this.#call("removeRetired");
    if (id !== ME_ID) return Promise.reject(new ServiceError("not_found", "No retired identity"));
    return Promise.resolve({
      id: BOB_ID,
      identity_key: "n".repeat(43),
      fingerprint: "9f8e 7d6c 5b4a 3f2e 1d0c 9b8a 7f6e 5d4c",
      relay: null,
      retired: [],
    });
  }

  rotateIdentity(): Promise<Me> {
    this.#call("rotateIdentity");
    return Promise.resolve({
      id: BOB_ID,
      identity_key: "n".repeat(43),
      fingerprint: "9f8e 7d6c 5b4a 3f2e 1d0c 9b8a 7f6e 5d4c",
      relay: null,
      retired: [{ id: ME_ID, identity_key: "k".repeat(43) }],
    });
  }

  eventsSince(since: number, limit: number): JournalEvent[] {
    this.#call("eventsSince");
    this.onEventsSince?.(since);
    const visible = this.journal.slice(0, Math.max(0, this.journal.length - this.journalLag));
    return visible.filter((e) => e.id > since).slice(0, limit);
  }

  /** The times eventBefore was asked for; it answers 1 (the stream starts after event 1). */
  readonly eventBeforeTs: number[] = [];

  eventBefore(ts: number): number {
    this.#call("eventBefore");
    this.eventBeforeTs.push(ts);
    return 1;
  }

  lastEventId(): number {
    this.#call("lastEventId");
    return this.journal.length;
  }

  subscribe(fn: (e: JournalEvent) => void): () => void {
    this.#call("subscribe");
    const f = (e: JournalEvent) => fn(e);
    this.#subs.add(f);
    this.#subsChanged();
    return () => {
      this.#subs.delete(f);
      this.#subsChanged();
    };
  }
}

function contact(id: string, name: string | null): Contact {
  return {
    id,
    name,
    identity_key: null,
    verified: false,
    key_changed: false,
    online: null,
    safety_number: null,
  };
}
