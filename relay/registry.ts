/**
 * The relay's persistent registry: client_id → identity public key, and nothing else: no IPs,
 * no dates, no last-seen times, no contacts, no messages.
 *
 * SQLite (node:sqlite) in WAL mode with synchronous=FULL: a registration is on disk before the
 * relay acknowledges it, concurrent registrations cannot lose each other (one writer, atomic
 * INSERT … ON CONFLICT DO NOTHING), and the first registration of an id wins. The schema is
 * versioned (lib/sqlite_schema.ts): version 1 is the release before versions (with a
 * `first_seen` day per id), version 2 drops the day, as nothing needs it.
 *
 * @module
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { constantTimeEqual } from "../protocol/bytes.ts";
import { migrate, type Migration, refuseNewer } from "../lib/sqlite_schema.ts";
import type { RegistryStore } from "./router.ts";

/** One registry row. */
export interface RegistryEntry {
  /** The 16-byte id. */
  id: Uint8Array;
  /** The 32-byte identity public key. */
  publicKey: Uint8Array;
}

/** Outcome of a registration. */
export type RegisterResult = "new" | "known" | "conflict";

/** The registry's schema, step by step. */
export const REGISTRY_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "identities (id, public_key, first_seen)",
    up: (db) =>
      db.exec(`CREATE TABLE IF NOT EXISTS identities (
        id BLOB PRIMARY KEY CHECK (length(id) = 16),
        public_key BLOB NOT NULL CHECK (length(public_key) = 32),
        first_seen TEXT NOT NULL
      ) WITHOUT ROWID`),
  },
  {
    version: 2,
    name: "drop first_seen",
    // A new table and a copy, so that the dates are not left in the file (secure_delete is on:
    // the old table's pages are zeroed when it is dropped).
    up: (db) =>
      db.exec(`CREATE TABLE identities_v2 (
        id BLOB PRIMARY KEY CHECK (length(id) = 16),
        public_key BLOB NOT NULL CHECK (length(public_key) = 32)
      ) WITHOUT ROWID;
      INSERT INTO identities_v2 (id, public_key) SELECT id, public_key FROM identities;
      DROP TABLE identities;
      ALTER TABLE identities_v2 RENAME TO identities;`),
  },
];

/**
 * The registry.
 *
 * @example
 * ```ts
 * const reg = Registry.open("/var/lib/schied-relay/registry.db");
 * reg.register(id, publicKey); // "new"
 * ```
 */
export class Registry implements RegistryStore {
  readonly #db: DatabaseSync;
  readonly #insert: StatementSync;
  readonly #get: StatementSync;
  readonly #count: StatementSync;

  private constructor(db: DatabaseSync) {
    this.#db = db;
    db.exec("PRAGMA busy_timeout=5000");
    // Before the journal mode is set: switching a database to WAL rewrites its header.
    refuseNewer(db, REGISTRY_MIGRATIONS, "The registry");
    db.exec("PRAGMA journal_mode=WAL");
    db.exec("PRAGMA synchronous=FULL");
    db.exec("PRAGMA secure_delete=ON");
    migrate(db, REGISTRY_MIGRATIONS, "The registry");
    this.#insert = db.prepare(
      "INSERT INTO identities (id, public_key) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
    );
    this.#get = db.prepare("SELECT public_key FROM identities WHERE id = ?");
    this.#count = db.prepare("SELECT count(*) AS n FROM identities");
  }

  /** Opens (creating or migrating if needed) the registry database at `path`. */
  static open(path: string): Registry {
    const db = new DatabaseSync(path);
    try {
      return new Registry(db);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /**
   * Registers `publicKey` under `id` unless the id is taken. The id must already have been
   * derived from the key by the caller; a stored key that differs is a `conflict` (impossible
   * short of a SHA-256 collision, and never overwritten).
   */
  register(id: Uint8Array, publicKey: Uint8Array): RegisterResult {
    const r = this.#insert.run(id, publicKey);
    if (Number(r.changes) === 1) return "new";
    const row = this.lookup(id);
    return row && constantTimeEqual(row.publicKey, publicKey) ? "known" : "conflict";
  }

  /** The entry of `id`, if registered. */
  lookup(id: Uint8Array): RegistryEntry | undefined {
    const row = this.#get.get(id) as { public_key: Uint8Array } | undefined;
    if (!row) return undefined;
    return { id, publicKey: new Uint8Array(row.public_key) };
  }
  /** Number of registered ids. */
  count(): number {
    return Number((this.#count.get() as { n: number | bigint }).n);
  }

  /** Closes the database. */
  close(): void {
    try {
      this.#db.close();
    } catch {
      // already closed
    }
  }
}
