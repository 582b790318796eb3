/**
 * The daemon's one write path: every state change is an operation queued here, and the queue is
 * committed as one SQLite transaction (one fsync) per batch — group commit. Operations queued
 * while the event loop is busy join the same batch; an idle daemon commits within the turn.
 *
 * An operation that throws is rolled back alone (its promise rejects, its journal events are
 * dropped) and the others of the batch commit: the batch is run again with a savepoint per
 * operation. Operations must therefore tolerate being run twice (the first run's effects on the
 * database are rolled back; what they do in memory must be harmless to repeat). Callers
 * learn of the commit through the operation's promise, and only then change what they keep in
 * memory (send progress, acknowledgements), so memory never runs ahead of a rolled-back write.
 *
 * Durability: with a `durable` function (db.ts walSync; the database opened with groupSync) a
 * batch's COMMIT only writes the WAL, and the batch is announced (hooks' publish, operations'
 * promises) once a sync that began after its COMMIT has finished. One sync runs at a time and
 * covers every batch committed before it began (group fsync): the event loop never waits on the
 * disk, and nothing is sent, answered or streamed about a write that power loss could undo.
 * A failed sync fails its batches' operations and every later write (fail closed: after a failed
 * fsync the kernel may have dropped the pages, so nothing written since can be trusted).
 *
 * Statements are prepared once and cached (`stmt`): preparing is most of a small query's cost.
 *
 * @module
 */
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { setImmediate } from "node:timers";
import type { Sealer } from "./sealer.ts";

interface Op {
  fn: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** Hooks around each batch (the journal publishes its events after the commit). */
export interface BatchHooks {
  /** Before each operation: a mark to roll back to. */
  mark(): number;
  /** The operation since `mark` was rolled back. */
  rollback(mark: number): void;
  /**
   * The batch committed (true) or failed as a whole (false). What it returns runs once the batch
   * is durable (the journal announces its events then).
   */
  done(committed: boolean): (() => void) | void;
}

/** A committed batch waiting for durability: what to run, in order, once it is on disk. */
type Settle = { publish: (() => void)[]; results: { op: Op; ok: boolean; value: unknown }[] };

/** Most operations in one transaction (a bound on its size and on the event-loop pause). */
export const MAX_BATCH = 512;

/**
 * The database, its sealer, its statements and its write queue.
 *
 * @example
 * ```ts
 * const store = new Store(db, sealer);
 * await store.write(() => store.stmt("UPDATE peers SET next_send_seq = ?").run(2));
 * ```
 */
export class Store {
  readonly #stmts = new Map<string, StatementSync>();
  #queue: Op[] = [];
  #scheduled = false;
  #hooks: BatchHooks[] = [];
  /** True when writes happened since the last checkpoint (db.ts checkpoint). */
  dirty = false;
  /** True while a batch runs: reads may see uncommitted rows (caches must not keep them). */
  inBatch = false;
  /** Batches and operations committed (for status and benchmarks). */
  readonly stats = { batches: 0, ops: 0 };

  /** What runs once before this batch's COMMIT, by key (beforeCommit). */
  readonly #beforeCommit = new Map<unknown, () => void>();
  #unsynced: Settle[] = [];
  #syncing = false;
  #broken: Error | undefined;

  /**
   * @param db the open database; @param sealer seals its secret columns
   * @param durable makes every commit so far durable; without it each COMMIT is (synchronous=FULL)
   */
  constructor(
    readonly db: DatabaseSync,
    readonly sealer: Sealer,
    readonly durable?: () => Promise<void>,
  ) {}

  /** A prepared statement for `sql`, prepared once. */
  stmt(sql: string): StatementSync {
    let s = this.#stmts.get(sql);
    if (!s) this.#stmts.set(sql, s = this.db.prepare(sql));
    return s;
  }

  /** Adds hooks run around every batch. */
  hook(h: BatchHooks): void {
    this.#hooks.push(h);
  }

  /**
   * Queues `fn` for the next batch; resolves with its result once the batch has committed, or
   * rejects with what it threw (rolled back alone) or with the commit's failure.
   */
  write<T>(fn: () => T): Promise<T> {
    if (this.#broken) return Promise.reject(this.#broken);
    const p = Promise.withResolvers<T>();
    this.#queue.push({ fn, resolve: p.resolve as (v: unknown) => void, reject: p.reject });
    if (!this.#scheduled) {
      this.#scheduled = true;
      // After this turn's I/O (node:timers setImmediate): whatever else the turn queues (other
      // peers, other requests) joins in. Not setTimeout(0): nested timers are clamped to
      // milliseconds (~2 ms a hop measured here, against 15 µs), which added up to ~10 ms per
      // message across a daemon's hops.
      setImmediate(() => this.flush());
    }
    return p.promise;
  }

  /**
   * From inside an operation: runs `fn` in this batch's transaction just before it commits,
   * once per `key` however many operations ask (the last `fn` given wins). For state that many
   * operations of a batch advance and that is written whole: a session that seals one message per
   * accepted request is saved once per batch, not once per message. If it throws, the batch fails
   * as a whole (as a failed COMMIT does).
   */
  beforeCommit(key: unknown, fn: () => void): void {
    if (!this.inBatch) throw new Error("beforeCommit outside a store operation");
    this.#beforeCommit.set(key, fn);
  }

  /** Commits everything queued now (also called by the timer). */
  flush(): void {
    this.#scheduled = false;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH);
      this.#commit(batch);
    }
  }

  #commit(batch: Op[]): void {
    // Fast path: the whole batch in one transaction without savepoints (two statements saved per
    // operation). If an operation throws, the batch is rolled back and run again with a savepoint
    // per operation, so that only the failing one is lost.
    const fast = this.#run(batch, false);
    if (fast === "failed") this.#run(batch, true);
  }

  #run(batch: Op[], savepoints: boolean): "done" | "failed" {
    this.inBatch = true;
    try {
      return this.#runIn(batch, savepoints);
    } finally {
      this.inBatch = false;
    }
  }

  #runIn(batch: Op[], savepoints: boolean): "done" | "failed" {
    const results: { op: Op; ok: boolean; value: unknown }[] = [];
    this.#beforeCommit.clear();
    try {
      this.db.exec("BEGIN IMMEDIATE");
    } catch (e) {
      for (const op of batch) op.reject(e);
      return "done";
    }
    for (const op of batch) {
      const marks = this.#hooks.map((h) => h.mark());
      if (savepoints) this.db.exec("SAVEPOINT op");
      try {
        const value = op.fn();
        if (savepoints) this.db.exec("RELEASE op");
        results.push({ op, ok: true, value });
      } catch (e) {
        if (!savepoints) {
          this.db.exec("ROLLBACK");
          this.#hooks.forEach((h) => h.rollback(0));
          return "failed";
        }
        this.db.exec("ROLLBACK TO op");
        this.db.exec("RELEASE op");
        this.#hooks.forEach((h, i) => h.rollback(marks[i]!));
        results.push({ op, ok: false, value: e });
      }
    }
    try {
      for (const f of this.#beforeCommit.values()) f();
      this.#beforeCommit.clear();
      this.db.exec("COMMIT");
    } catch (e) {
      this.#beforeCommit.clear();
      try {
        this.db.exec("ROLLBACK");
      } catch { /* already rolled back */ }
      for (const h of this.#hooks) h.done(false);
      for (const op of batch) op.reject(e);
      return "done";
    }
    this.dirty = true;
    this.stats.batches++;
    this.stats.ops += batch.length;
    this.inBatch = false;
    const publish: (() => void)[] = [];
    for (const h of this.#hooks) {
      const f = h.done(true);
      if (f) publish.push(f);
    }
    const settle = { publish, results };
    if (!this.durable) Store.#settle(settle);
    else {
      this.#unsynced.push(settle);
      this.#sync();
    }
    return "done";
  }

  /** Starts a sync for what is committed, unless one runs (its end starts the next). */
  #sync(): void {
    if (this.#syncing || this.#unsynced.length === 0) return;
    this.#syncing = true;
    const batches = this.#unsynced;
    this.#unsynced = [];
    this.durable!().then(
      () => batches.forEach(Store.#settle),
      (e) => {
        this.#broken ??= new Error(`Cannot make the database durable: ${(e as Error).message}`);
        for (const b of [...batches, ...this.#unsynced]) {
          for (const r of b.results) r.op.reject(this.#broken);
        }
        this.#unsynced = [];
      },
    ).finally(() => {
      this.#syncing = false;
      this.#sync();
    });
  }

  /** Announces a durable batch: its events, then its operations' results. */
  static #settle(b: Settle): void {
    for (const f of b.publish) f();
    for (const r of b.results) (r.ok ? r.op.resolve : r.op.reject)(r.value);
  }

  /** Resolves once every batch committed so far is durable (or failed). */
  async synced(): Promise<void> {
    this.flush();
    if (!this.durable) return;
    await this.write(() => {}).catch(() => {});
  }
}
