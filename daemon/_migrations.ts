/**
 * The schema of `daemon.db`, step by step (lib/sqlite_schema.ts runs the pending steps in one
 * transaction when the database opens).
 *
 * 1. The release without versions (commit 44d41ba): plaintext texts, names, session states.
 * 2. Secrets sealed (sealer.ts): `messages.text` → `messages.body`, `events.data`,
 *    `sessions.state` and `contacts.name` become sealed blobs; contact names get a blind index
 *    for uniqueness and lookup; contacts get a `kind` (contact, request, blocked) for message
 *    requests. Tables are rebuilt rather than altered and secure_delete is on, so the plaintext
 *    of version 1 is zeroed, not left in free pages.
 * 3. Caseless names (names.ts): `contacts.name_idx` becomes the blind index of the name's
 *    caseless key instead of the name itself, recomputed from every (opened) name. Names that
 *    now collide (`Frank` and `frank`) lose nothing: the first added keeps its name, the others
 *    get `-2`, `-3`, … (the first free one, in the order they were added), and are reported
 *    (`Renamed`) for the daemon's log.
 * 4. End-to-end version 2 (protocol/README.md, section 11): sessions become Double Ratchet states
 *    seeded by the hybrid handshake. A symmetric `schied/1` session cannot be turned into one
 *    (it has no root key or ratchet key pair), so stored sessions are deleted (secure_delete
 *    zeroes them) and each peer is re-handshaken on the next send or receipt; messages that were
 *    sent but not acknowledged go again under the new session (their sequence numbers stay, so
 *    the receiver shows none twice).
 * 5. Identity rotation sent to contacts (protocol/README.md, section 3.1): `messages.rot` holds
 *    the rotation statement an outgoing message carries (public: two ids, two keys, two
 *    signatures; so in clear), NULL for most; `messages.carrier` is 1 for a message with no text
 *    that only carries a statement to a contact (it is delivered like any message but is no
 *    part of the history). Columns are added; no row changes.
 * 6. Files (protocol/README.md, section 11.10): a `files` table (one row per file sent or
 *    received: its peer, size, SHA-256, state and progress; `meta` is the sealed JSON of its
 *    name, media type and key); `messages.file` and `messages.part` mark the outgoing rows of a
 *    file's payloads (offer −1, acceptance −2, end −3, chunk i ≥ 0), which take sequence numbers
 *    like messages but are no part of the history. The files' bytes live under `files/` in the
 *    state dir, sealed chunk by chunk under each file's key. Tables and columns are added; no row
 *    changes.
 * 7. Groups (protocol/README.md, section 11.11).
 * 8. A verified contact's key change waits for the user (README "Contact names and safety
 *    numbers"): `contacts.key_changed` is 1 for a contact that was verified and then rotated to
 *    a new key; nothing is sent to it until the user verifies it again (or accepts the new key
 *    unverified). And skipped message keys expire in idle sessions too: `sessions.skipped_until`
 *    is when a session's oldest skipped key expires (NULL: none), so the daemon finds the
 *    sessions to sweep without opening every one. The migration cannot open the stored
 *    sessions (they are sealed), so it sets their column to 0: the first tick sweeps each once
 *    and stores its real expiry. Columns and an index are added; no other value changes.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import type { Migration } from "../lib/sqlite_schema.ts";
import type { Sealer } from "./sealer.ts";
import { nameKey } from "./names.ts";

/** Columns of sealed values, as `Sealer` column labels (part of each blob's binding). */
export const SEALED = {
  body: "messages.body",
  event: "events.data",
  session: "sessions.state",
  name: "contacts.name",
  file: "files.meta",
  group: "groups.name",
} as const;

const V6 = `
CREATE TABLE files (
  id TEXT NOT NULL, me TEXT NOT NULL, direction TEXT NOT NULL, peer TEXT NOT NULL,
  meta BLOB NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL, state TEXT NOT NULL,
  done INTEGER NOT NULL DEFAULT 0, reason TEXT, created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL, PRIMARY KEY (me, id));
CREATE INDEX files_peer ON files(me, peer, direction, state);
ALTER TABLE messages ADD COLUMN file TEXT;
ALTER TABLE messages ADD COLUMN part INTEGER;
`;

const V1 = `
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

const V2_TABLES = `
CREATE TABLE contacts (
  me TEXT NOT NULL, id TEXT NOT NULL,
  kind TEXT NOT NULL DEFAULT 'contact' CHECK (kind IN ('contact', 'request', 'blocked')),
  name BLOB, name_idx BLOB, identity_key TEXT,
  verified INTEGER NOT NULL DEFAULT 0, added_at INTEGER NOT NULL,
  PRIMARY KEY (me, id));
CREATE TABLE sessions (
  me TEXT NOT NULL, peer TEXT NOT NULL, sid TEXT NOT NULL, state BLOB NOT NULL,
  created_at INTEGER NOT NULL, PRIMARY KEY (me, peer, sid));
CREATE TABLE messages (
  id TEXT PRIMARY KEY, me TEXT NOT NULL, direction TEXT NOT NULL, peer TEXT NOT NULL,
  seq INTEGER NOT NULL, body BLOB NOT NULL, ts INTEGER NOT NULL, status TEXT NOT NULL,
  reason TEXT, idem_key TEXT, event_id INTEGER, created_at INTEGER NOT NULL);
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, type TEXT NOT NULL,
  data BLOB NOT NULL);
`;

const V2_INDEXES = `
CREATE UNIQUE INDEX contacts_name ON contacts(me, name_idx) WHERE name_idx IS NOT NULL;
CREATE INDEX contacts_kind ON contacts(me, kind, added_at);
CREATE UNIQUE INDEX messages_idem ON messages(me, idem_key) WHERE idem_key IS NOT NULL;
CREATE UNIQUE INDEX messages_seq ON messages(me, peer, direction, seq);
CREATE INDEX messages_pending ON messages(me, peer, seq) WHERE direction = 'out' AND status IN ('queued', 'sent');
CREATE INDEX messages_event ON messages(event_id);
`;

type Row = Record<string, unknown>;

function sealV1(db: DatabaseSync, s: Sealer): void {
  for (const t of ["contacts", "sessions", "messages", "events"]) {
    db.exec(`ALTER TABLE ${t} RENAME TO ${t}_v1`);
  }
  db.exec(V2_TABLES);
  const contacts = db.prepare(
    `INSERT INTO contacts (me, id, kind, name, name_idx, identity_key, verified, added_at)
     VALUES (?, ?, 'contact', ?, ?, ?, ?, ?)`,
  );
  for (const r of db.prepare("SELECT * FROM contacts_v1").all() as Row[]) {
    const me = r.me as string, id = r.id as string, name = r.name as string | null;
    contacts.run(
      me,
      id,
      name === null ? null : s.sealText(name, SEALED.name, `${me}/${id}`),
      name === null ? null : s.index(name),
      (r.identity_key as string | null) ?? null,
      Number(r.verified),
      Number(r.added_at),
    );
  }
  const sessions = db.prepare(
    "INSERT INTO sessions (me, peer, sid, state, created_at) VALUES (?, ?, ?, ?, ?)",
  );
  for (const r of db.prepare("SELECT * FROM sessions_v1").all() as Row[]) {
    const me = r.me as string, peer = r.peer as string, sid = r.sid as string;
    const state = s.sealText(r.state as string, SEALED.session, `${me}/${peer}/${sid}`);
    sessions.run(me, peer, sid, state, Number(r.created_at));
  }
  const messages = db.prepare(
    `INSERT INTO messages (id, me, direction, peer, seq, body, ts, status, reason, idem_key,
     event_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const r of db.prepare("SELECT * FROM messages_v1").all() as Row[]) {
    const id = r.id as string;
    messages.run(
      id,
      r.me as string,
      r.direction as string,
      r.peer as string,
      Number(r.seq),
      s.sealText(r.text as string, SEALED.body, id),
      Number(r.ts),
      r.status as string,
      (r.reason as string | null) ?? null,
      (r.idem_key as string | null) ?? null,
      r.event_id === null ? null : Number(r.event_id),
      Number(r.created_at),
    );
  }
  const events = db.prepare("INSERT INTO events (id, ts, type, data) VALUES (?, ?, ?, ?)");
  for (const r of db.prepare("SELECT * FROM events_v1").all() as Row[]) {
    events.run(
      Number(r.id),
      Number(r.ts),
      r.type as string,
      s.sealText(r.data as string, SEALED.event, ""),
    );
  }
  // Keep AUTOINCREMENT's high-water mark, so event ids never go back (SSE resume points).
  db.exec(`DELETE FROM sqlite_sequence WHERE name = 'events';
    INSERT INTO sqlite_sequence (name, seq) SELECT 'events', seq FROM sqlite_sequence
    WHERE name = 'events_v1';`);
  for (const t of ["contacts", "sessions", "messages", "events"]) db.exec(`DROP TABLE ${t}_v1`);
  db.exec(V2_INDEXES);
}

/** A contact renamed by migration 3, its name having collided with an older one's. */
export interface Renamed {
  me: string;
  id: string;
  from: string;
  to: string;
}

/** Longest contact name (contacts.ts MAX_NAME_LEN, which imports this module). */
const NAME_LEN = 64;

/** `base-n`, the base cut (by code points) so that the whole fits NAME_LEN. */
function suffixed(base: string, n: number): string {
  const tail = `-${n}`;
  const chars = [...base];
  while (chars.join("").length + tail.length > NAME_LEN) chars.pop();
  return chars.join("") + tail;
}

/** A name's key per identity (names are unique per identity). */
const slot = (me: string, key: string) => `${me}\u0000${key}`;

function caselessNames(db: DatabaseSync, s: Sealer, renamed: Renamed[]): void {
  const rows = (db.prepare(
    "SELECT me, id, name FROM contacts WHERE name IS NOT NULL ORDER BY me, added_at, id",
  ).all() as Row[]).map((r) => {
    const me = r.me as string, id = r.id as string;
    const name = s.openText(r.name as Uint8Array, SEALED.name, `${me}/${id}`);
    return { me, id, name, key: nameKey(name) };
  });
  // Who keeps a name: the first added of each key (per identity). Every kept key is taken
  // before any new name is picked, so a rename never takes a name someone still holds.
  const taken = new Set<string>();
  const keeps = new Set<(typeof rows)[number]>();
  for (const r of rows) {
    if (!taken.has(slot(r.me, r.key))) {
      taken.add(slot(r.me, r.key));
      keeps.add(r);
    }
  }
  // The old indexes may equal new ones of other rows (`frank`'s old = `Frank`'s new).
  db.exec("UPDATE contacts SET name_idx = NULL");
  const setIdx = db.prepare("UPDATE contacts SET name_idx = ? WHERE me = ? AND id = ?");
  const setName = db.prepare(
    "UPDATE contacts SET name = ?, name_idx = ? WHERE me = ? AND id = ?",
  );
  for (const r of rows) {
    if (keeps.has(r)) {
      setIdx.run(s.index(r.key), r.me, r.id);
      continue;
    }
    let n = 2, to = suffixed(r.name, n);
    while (taken.has(slot(r.me, nameKey(to)))) to = suffixed(r.name, ++n);
    taken.add(slot(r.me, nameKey(to)));
    setName.run(s.sealText(to, SEALED.name, `${r.me}/${r.id}`), s.index(nameKey(to)), r.me, r.id);
    renamed.push({ me: r.me, id: r.id, from: r.name, to });
  }
}

/**
 * Version 7: groups (daemon/groups.ts). `groups` holds each group's last applied statement (its
 * epoch, hash, members and admins), the epoch at which this identity last joined and whether it
 * is still a member; `group_changes` every statement applied (the chain a change carrier sends);
 * `group_msgs` each group message sent (the copies, one per member, are rows of `messages` with
 * `gmsg`); `messages.gc` the statements a change carrier sends.
 */
const V7 = `
CREATE TABLE groups (
  me TEXT NOT NULL, id TEXT NOT NULL, name BLOB, name_idx BLOB, epoch INTEGER NOT NULL,
  hash BLOB NOT NULL, members TEXT NOT NULL, admins TEXT NOT NULL, joined INTEGER NOT NULL,
  state TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (me, id));
CREATE UNIQUE INDEX groups_name ON groups(me, name_idx) WHERE name_idx IS NOT NULL;
CREATE TABLE group_changes (
  me TEXT NOT NULL, grp TEXT NOT NULL, epoch INTEGER NOT NULL, statement BLOB NOT NULL,
  PRIMARY KEY (me, grp, epoch));
CREATE TABLE group_msgs (
  id TEXT PRIMARY KEY, me TEXT NOT NULL, grp TEXT NOT NULL, epoch INTEGER NOT NULL,
  body BLOB NOT NULL, ts INTEGER NOT NULL, status TEXT NOT NULL, idem_key TEXT,
  event_id INTEGER NOT NULL);
CREATE UNIQUE INDEX group_msgs_idem ON group_msgs(me, idem_key) WHERE idem_key IS NOT NULL;
ALTER TABLE messages ADD COLUMN grp TEXT;
ALTER TABLE messages ADD COLUMN gmsg TEXT;
ALTER TABLE messages ADD COLUMN gep INTEGER;
ALTER TABLE messages ADD COLUMN gc TEXT;
CREATE INDEX messages_gmsg ON messages(gmsg) WHERE gmsg IS NOT NULL;
`;

/**
 * The migrations of daemon.db; version 2 seals what version 1 kept in clear, version 3 makes
 * names caseless, version 4 drops `schied/1` sessions, version 5 adds the columns of rotation
 * statements, version 6 the table of files, version 7 groups, version 8 held key changes and
 * the expiry of skipped keys.
 * Contacts renamed by version 3 are pushed onto `renamed` (report them once the migration has
 * committed).
 */
export function daemonMigrations(sealer: Sealer, renamed: Renamed[] = []): Migration[] {
  return [
    { version: 1, name: "tables of the unversioned release", up: (db) => db.exec(V1) },
    { version: 2, name: "sealed secrets, message requests", up: (db) => sealV1(db, sealer) },
    {
      version: 3,
      name: "caseless contact names",
      up: (db) => caselessNames(db, sealer, renamed),
    },
    {
      version: 4,
      name: "end-to-end version 2: ratchet sessions replace symmetric ones",
      up: (db) => db.exec("DELETE FROM sessions"),
    },
    {
      version: 5,
      name: "identity rotation statements carried by outgoing messages",
      up: (db) =>
        db.exec(`ALTER TABLE messages ADD COLUMN rot BLOB;
          ALTER TABLE messages ADD COLUMN carrier INTEGER NOT NULL DEFAULT 0;`),
    },
    { version: 6, name: "files sent and received", up: (db) => db.exec(V6) },
    { version: 7, name: "groups", up: (db) => db.exec(V7) },
    {
      version: 8,
      name: "held key changes; when skipped keys expire",
      up: (db) =>
        db.exec(`ALTER TABLE contacts ADD COLUMN key_changed INTEGER NOT NULL DEFAULT 0;
          ALTER TABLE sessions ADD COLUMN skipped_until INTEGER;
          UPDATE sessions SET skipped_until = 0;
          CREATE INDEX sessions_skipped ON sessions(me, skipped_until)
            WHERE skipped_until IS NOT NULL;`),
    },
  ];
}
