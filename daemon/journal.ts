/**
 * The local event journal: every event the API streams, with a monotonic id, so a consumer that
 * reconnects with Last-Event-ID misses nothing. Bounded by a retention count. Event data (which
 * holds message texts and names) is sealed at rest (sealer.ts).
 *
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { SEALED } from "./_migrations.ts";
import type { Sealer } from "./sealer.ts";
import type { JournalEvent } from "./service.ts";

/** Events kept by default (older ones are pruned). */
export const DEFAULT_RETENTION = 100_000;

/**
 * Appends and reads events; notifies subscribers after the append is committed.
 *
 * @example
 * ```ts
 * const j = new Journal(db, sealer);
 * const id = j.append("relay", { state: "online" });
 * ```
 */
export class Journal {
  readonly #insert: StatementSync;
  readonly #since: StatementSync;
  readonly #last: StatementSync;
  readonly #subs = new Set<(e: JournalEvent) => void>();
  #uncommitted: JournalEvent[] = [];
  #appended = 0;

  /** Binds to the database; `now` is the clock. */
  constructor(
    readonly db: DatabaseSync,
    readonly sealer: Sealer,
    readonly now: () => number = Date.now,
    readonly retention = DEFAULT_RETENTION,
  ) {
    this.#insert = db.prepare("INSERT INTO events (ts, type, data) VALUES (?, ?, ?)");
    this.#since = db.prepare("SELECT id, type, data FROM events WHERE id > ? ORDER BY id LIMIT ?");
    this.#last = db.prepare("SELECT coalesce(max(id), 0) AS id FROM events");
  }

  /**
   * Appends an event inside the caller's transaction and returns its id. Subscribers hear of it
   * when the caller calls `publish()` after committing.
   */
  append(type: JournalEvent["type"], data: Record<string, unknown>): number {
    const sealed = this.sealer.sealText(JSON.stringify(data), SEALED.event, "");
    const r = this.#insert.run(this.now(), type, sealed);
    const id = Number(r.lastInsertRowid);
    this.#uncommitted.push({ id, type, data });
    if (++this.#appended % 1000 === 0) this.#prune(id);
    return id;
  }

  /** Announces appended events (call after COMMIT); drops them after a ROLLBACK with `false`. */
  publish(committed = true): void {
    const evs = this.#uncommitted;
    this.#uncommitted = [];
    if (!committed) return;
    for (const e of evs) for (const s of this.#subs) s(e);
  }

  /** Events after `since`, oldest first. */
  since(since: number, limit: number): JournalEvent[] {
    const rows = this.#since.all(since, limit) as { id: number; type: string; data: Uint8Array }[];
    return rows.map((r) => ({
      id: Number(r.id),
      type: r.type as JournalEvent["type"],
      data: JSON.parse(this.sealer.openText(r.data, SEALED.event, "")),
    }));
  }

  /** The newest id. */
  lastId(): number {
    return Number((this.#last.get() as { id: number }).id);
  }

  /** Subscribes to new events. */
  subscribe(fn: (e: JournalEvent) => void): () => void {
    this.#subs.add(fn);
    return () => this.#subs.delete(fn);
  }

  #prune(lastId: number): void {
    if (lastId > this.retention) {
      this.db.prepare("DELETE FROM events WHERE id <= ?").run(lastId - this.retention);
    }
  }
}
