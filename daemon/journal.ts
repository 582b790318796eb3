/**
 * The local event journal: every event the API streams, with a monotonic id, so a consumer that
 * reconnects with Last-Event-ID misses nothing. Bounded by a retention count. Event data (which
 * holds message texts and names) is sealed at rest (sealer.ts).
 *
 * Events are appended inside the store's write operations and announced to subscribers once
 * their batch has committed; an operation that rolls back takes its events with it.
 *
 * @module
 */
import { utf8 } from "../protocol/bytes.ts";
import { SEALED } from "./_migrations.ts";
import type { BatchHooks, Store } from "./store.ts";
import type { EventData, EventType, JournalEvent } from "./service.ts";

/** Event types whose data is sealed at rest (the others hold no text and no name). */
const SECRET_EVENTS = new Set<JournalEvent["type"]>([
  "message",
  "request",
  "rotation",
  "file",
  "group",
]);
const utf8d = new TextDecoder("utf-8", { fatal: true });

/** Events kept by default (older ones are pruned). */
export const DEFAULT_RETENTION = 100_000;

/**
 * Appends and reads events; notifies subscribers after the append is committed.
 *
 * @example
 * ```ts
 * const j = new Journal(store);
 * await store.write(() => j.append("relay", { state: "online" }));
 * ```
 */
export class Journal implements BatchHooks {
  readonly #subs = new Set<(e: JournalEvent) => void>();
  #uncommitted: JournalEvent[] = [];
  #appended = 0;
  #last: number;

  /** Binds to the store (and hooks into its batches); `now` is the clock. */
  constructor(
    readonly store: Store,
    readonly now: () => number = Date.now,
    readonly retention = DEFAULT_RETENTION,
  ) {
    this.#last = Number(
      (store.stmt("SELECT coalesce(max(id), 0) AS id FROM events").get() as { id: number }).id,
    );
    store.hook(this);
  }

  /**
   * Appends an event inside a store operation and returns its id; `data` is typed by `type`.
   * The data of `message`, `request` and `rotation` events (texts, names) is sealed; the others (statuses,
   * presence, relay states, errors: ids, numbers and codes, which the messages table keeps in
   * clear anyway) are stored as JSON, which saves a seal and an open for most events.
   */
  append<T extends EventType>(type: T, data: EventData<T>): number {
    const json = JSON.stringify(data);
    const stored = SECRET_EVENTS.has(type)
      ? this.store.sealer.sealText(json, SEALED.event, "")
      : utf8.encode(json);
    const r = this.store.stmt("INSERT INTO events (ts, type, data) VALUES (?, ?, ?)")
      .run(this.now(), type, stored);
    const id = Number(r.lastInsertRowid);
    this.#uncommitted.push({ id, type, data } as JournalEvent);
    if (++this.#appended % 1000 === 0) this.#prune(id);
    return id;
  }

  /** BatchHooks: the position to roll back to. */
  mark(): number {
    return this.#uncommitted.length;
  }

  /** BatchHooks: forget what an operation that rolled back appended. */
  rollback(mark: number): void {
    this.#uncommitted.length = mark;
  }

  /** BatchHooks: the batch's events, announced once durable; or dropped. */
  done(committed: boolean): (() => void) | void {
    const evs = this.#uncommitted;
    this.#uncommitted = [];
    if (!committed || evs.length === 0) return;
    return () => {
      for (const e of evs) {
        this.#last = Math.max(this.#last, e.id);
        for (const s of this.#subs) s(e);
      }
    };
  }

  /** Events after `since`, oldest first. */
  since(since: number, limit: number): JournalEvent[] {
    const rows = this.store.stmt(
      "SELECT id, type, data FROM events WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
    ).all(since, this.#last, limit) as { id: number; type: string; data: Uint8Array }[];
    return rows.map((r) => ({
      id: Number(r.id),
      type: r.type as JournalEvent["type"],
      // A sealed blob starts with its format byte (1); clear JSON with "{".
      data: JSON.parse(
        r.data[0] === 0x7b
          ? utf8d.decode(r.data)
          : this.store.sealer.openText(r.data, SEALED.event, ""),
      ),
    }));
  }

  /** The id of the last event before time `ts` (0 if none, or if it was pruned). */
  before(ts: number): number {
    const r = this.store.stmt(
      "SELECT coalesce(min(id), 0) AS id FROM events WHERE ts >= ?",
    ).get(ts) as { id: number };
    // No event since ts: everything up to the newest is before it.
    return Number(r.id) === 0 ? this.#last : Math.max(0, Number(r.id) - 1);
  }

  /** The newest committed id. */
  lastId(): number {
    return this.#last;
  }

  /** Subscribes to new events. */
  subscribe(fn: (e: JournalEvent) => void): () => void {
    this.#subs.add(fn);
    return () => this.#subs.delete(fn);
  }

  #prune(lastId: number): void {
    if (lastId > this.retention) {
      this.store.stmt("DELETE FROM events WHERE id <= ?").run(lastId - this.retention);
    }
  }
}
