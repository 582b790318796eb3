/**
 * The daemon's database (`daemon.db`, SQLite via node:sqlite): contacts and message requests,
 * end-to-end sessions, per-peer sequence numbers, messages (journal and outbox) and events.
 * One writer (this process, which holds the state dir's lock), every change in a transaction.
 *
 * Durability: WAL. A commit is on disk before the API answers or anything is sent about it: by
 * default each COMMIT fsyncs (synchronous=FULL); the engine opens with `groupSync`, where COMMIT
 * only writes the WAL (synchronous=NORMAL, which SQLite keeps consistent across power loss) and
 * the store then makes a whole group of commits durable with one fdatasync of the WAL run off the
 * event loop (`walSync`), before it tells anyone.
 * Secrets: sealed per value (sealer.ts). Deleted secrets: secure_delete=ON zeroes freed content
 * in the database file, and `checkpoint()` (run by the engine within a second of a session key
 * being superseded) copies the WAL back and truncates it, so superseded keys do not linger in
 * `daemon.db-wal` either. Schema: numbered migrations (_migrations.ts).
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { migrate, refuseNewer } from "../lib/sqlite_schema.ts";
import { daemonMigrations, type Renamed } from "./_migrations.ts";
import type { Sealer } from "./sealer.ts";

/** File name of the database inside the state dir. */
export const DB_FILE = "daemon.db";

/**
 * Opens (creating or migrating) the database. A database newer than this release is refused
 * (SchemaTooNewError) before anything is changed. `onRenamed` hears of contacts that a migration
 * renamed (after it committed).
 *
 * @example
 * ```ts
 * const db = openDb("/home/me/.local/state/schied", new Sealer(keys.dataKey));
 * ```
 */
export function openDb(
  dir: string,
  sealer: Sealer,
  o: { groupSync?: boolean; onRenamed?: (renamed: Renamed[]) => void } = {},
): DatabaseSync {
  const db = new DatabaseSync(`${dir}/${DB_FILE}`);
  const renamed: Renamed[] = [];
  try {
    db.exec("PRAGMA busy_timeout=5000");
    const migrations = daemonMigrations(sealer, renamed);
    // Before the journal mode is set: switching a database to WAL rewrites its header.
    refuseNewer(db, migrations, DB_FILE);
    db.exec("PRAGMA journal_mode=WAL");
    // NORMAL only when the caller syncs the WAL itself before acting on a commit (walSync).
    db.exec(`PRAGMA synchronous=${o.groupSync ? "NORMAL" : "FULL"}`);
    db.exec("PRAGMA foreign_keys=ON");
    // Deleted and overwritten content is zeroed, not left in free space.
    db.exec("PRAGMA secure_delete=ON");
    const { from, to } = migrate(db, migrations, DB_FILE);
    if (from !== to) checkpoint(db); // the old plaintext pages leave the WAL at once
  } catch (e) {
    db.close();
    throw e;
  }
  // Committed: contacts whose names collided once names became caseless (migration 3).
  if (renamed.length > 0) o.onRenamed?.(renamed);
  return db;
}

/**
 * Copies the WAL into the database and truncates it to zero bytes: superseded pages (old
 * session keys among them) are then in neither file.
 */
export function checkpoint(db: DatabaseSync): void {
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
}

/**
 * Makes what has been committed to the WAL durable: fdatasync of `daemon.db-wal` through a
 * descriptor of our own, run by Deno on its blocking pool, so the event loop goes on serving
 * meanwhile (an fsync in COMMIT blocked it 0.3–4 ms per transaction here). fdatasync covers the
 * inode whichever descriptor wrote it; the WAL keeps its inode for as long as the database is
 * open (a TRUNCATE checkpoint shortens it, it is not replaced). The directory is synced once, so
 * that the WAL's own name survives power loss.
 */
export function walSync(dir: string): { sync(): Promise<void>; close(): void } {
  let file: Deno.FsFile | undefined;
  return {
    async sync() {
      if (!file) {
        file = await Deno.open(`${dir}/${DB_FILE}-wal`, { read: true });
        await syncDir(dir);
      }
      await file.syncData();
    },
    close() {
      try {
        file?.close();
      } catch { /* closed */ }
      file = undefined;
    },
  };
}

async function syncDir(dir: string): Promise<void> {
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}

/** Runs `fn` in one transaction (BEGIN IMMEDIATE … COMMIT, ROLLBACK on a throw). */
export function tx<T>(db: DatabaseSync, fn: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const r = fn();
    db.exec("COMMIT");
    return r;
  } catch (e) {
    db.exec("ROLLBACK");
    throw e;
  }
}

/** Reads a setting. */
export function getSetting(db: DatabaseSync, key: string): string | undefined {
  const row = db.prepare("SELECT value FROM settings WHERE key = ?").get(key) as
    | { value: string }
    | undefined;
  return row?.value;
}

/** Writes a setting. */
export function setSetting(db: DatabaseSync, key: string, value: string): void {
  db.prepare(
    "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
  ).run(key, value);
}
