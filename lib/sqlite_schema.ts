/**
 * Numbered schema migrations for the SQLite databases (`PRAGMA user_version`): each migration is
 * a small function; the pending ones run in one transaction when a database opens, so a crash
 * leaves the old version or the new one, never a mix. A database newer than the code is refused
 * before anything is read or written.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";

/** One step of a schema: from `version - 1` to `version`. */
export interface Migration {
  /** The version this step produces (1, 2, 3, … with no gaps). */
  version: number;
  /** What it does, for the log. */
  name: string;
  /** Applies the step; runs inside the migration transaction. */
  up(db: DatabaseSync): void;
}

/** A database written by a newer release. */
export class SchemaTooNewError extends Error {
  /** @param found the database's version; @param known the newest this code knows */
  constructor(readonly what: string, readonly found: number, readonly known: number) {
    super(
      `${what} has schema version ${found}, newer than this release knows (${known}); ` +
        "run a newer schied, or restore a backup made by this one",
    );
    this.name = "SchemaTooNewError";
  }
}

/** The database's schema version. */
export function schemaVersion(db: DatabaseSync): number {
  return Number((db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version);
}

/**
 * Throws SchemaTooNewError if `db` was written by a newer release. Call it before any PRAGMA that
 * writes (switching to WAL rewrites the header), so a refused database is left as it was.
 */
export function refuseNewer(
  db: DatabaseSync,
  migrations: readonly Migration[],
  what: string,
): void {
  const found = schemaVersion(db);
  if (found > migrations.length) throw new SchemaTooNewError(what, found, migrations.length);
}

/**
 * Brings `db` to the newest version of `migrations`; returns the versions before and after.
 *
 * @example
 * ```ts
 * migrate(db, [{ version: 1, name: "tables", up: (db) => db.exec("CREATE TABLE t (x)") }], "x.db");
 * ```
 */
export function migrate(
  db: DatabaseSync,
  migrations: readonly Migration[],
  what: string,
): { from: number; to: number } {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`Migration ${i} of ${what} is numbered ${m.version}`);
  });
  const latest = migrations.length;
  const from = schemaVersion(db);
  if (from > latest) throw new SchemaTooNewError(what, from, latest);
  if (from === latest) return { from, to: from };
  db.exec("BEGIN IMMEDIATE");
  try {
    // Read again under the write lock: another process may have migrated in the meantime.
    const now = schemaVersion(db);
    if (now > latest) throw new SchemaTooNewError(what, now, latest);
    for (const m of migrations.slice(now)) m.up(db);
    db.exec(`PRAGMA user_version = ${latest}`);
    db.exec("COMMIT");
  } catch (e) {
    db.exec("ROLLBACK");
    throw e;
  }
  return { from, to: latest };
}
