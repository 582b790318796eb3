/**
 * The daemon's database (`daemon.db`, SQLite via node:sqlite, WAL, synchronous=FULL): contacts,
 * end-to-end sessions, per-peer sequence numbers, messages (journal and outbox) and events.
 * One writer (this process), every change in a transaction.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";

/** File name of the database inside the state dir. */
export const DB_FILE = "daemon.db";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contacts (
  me TEXT NOT NULL, id TEXT NOT NULL, name TEXT, identity_key TEXT,
  verified INTEGER NOT NULL DEFAULT 0, added_at INTEGER NOT NULL,
  PRIMARY KEY (me, id));
CREATE UNIQUE INDEX IF NOT EXISTS contacts_name ON contacts(me, name) WHERE name IS NOT NULL;
CREATE TABLE IF NOT EXISTS sessions (
  me TEXT NOT NULL, peer TEXT NOT NULL, sid TEXT NOT NULL, state TEXT NOT NULL,
  created_at INTEGER NOT NULL, PRIMARY KEY (me, peer, sid));
CREATE TABLE IF NOT EXISTS peers (
  me TEXT NOT NULL, peer TEXT NOT NULL,
  next_send_seq INTEGER NOT NULL DEFAULT 1, next_recv_seq INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (me, peer));
CREATE TABLE IF NOT EXISTS messages (
  id TEXT PRIMARY KEY, me TEXT NOT NULL, direction TEXT NOT NULL, peer TEXT NOT NULL,
  seq INTEGER NOT NULL, text TEXT NOT NULL, ts INTEGER NOT NULL, status TEXT NOT NULL,
  reason TEXT, idem_key TEXT, event_id INTEGER, created_at INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS messages_idem ON messages(me, idem_key) WHERE idem_key IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS messages_seq ON messages(me, peer, direction, seq);
CREATE INDEX IF NOT EXISTS messages_pending ON messages(me, peer, seq) WHERE direction = 'out' AND status IN ('queued', 'sent');
CREATE INDEX IF NOT EXISTS messages_event ON messages(event_id);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL);
`;

/**
 * Opens (creating) the database.
 *
 * @example
 * ```ts
 * const db = openDb("/home/me/.local/state/schied");
 * ```
 */
export function openDb(dir: string): DatabaseSync {
  const db = new DatabaseSync(`${dir}/${DB_FILE}`);
  db.exec("PRAGMA journal_mode=WAL");
  db.exec("PRAGMA synchronous=FULL");
  db.exec("PRAGMA busy_timeout=5000");
  db.exec("PRAGMA foreign_keys=ON");
  db.exec(SCHEMA);
  return db;
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
