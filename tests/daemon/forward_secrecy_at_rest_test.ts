/**
 * Issue 7, item 10: a superseded session state leaves the files. Once the messages that moved a
 * session on are acknowledged, its earlier sealed state is in none of daemon.db, daemon.db-wal
 * and daemon.db-shm (secure_delete zeroes freed cells, the checkpoint within CHECKPOINT_MS copies
 * the WAL back and truncates it). With the data key (in identity.json when there is no
 * passphrase, or stolen with the passphrase), an old blob would give old chain keys back.
 *
 * The previous release left superseded states in daemon.db-wal and in free pages.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { assertEquals, assertOk } from "../_assert.ts";
import { waitFor } from "../harness.ts";
import { startPair } from "../daemon_harness.ts";
import { CHECKPOINT_MS } from "../../daemon/engine.ts";
import { checkpoint, openDb, tx } from "../../daemon/db.ts";
import { Sealer } from "../../daemon/sealer.ts";
import { SessionManager } from "../../daemon/sessions.ts";
import { Self } from "../../daemon/self.ts";
import { Store } from "../../daemon/store.ts";
import type { Identity } from "../../daemon/keystore.ts";
import { E2ESession } from "../../protocol/session.ts";
import { toBase64Url } from "../../protocol/bytes.ts";
import { anyChunkIn, contains, dbFiles, withReader } from "./_at_rest.ts";

/** The sealed state of `me`'s current session with `peer`, read from the database file. */
function currentState(dir: string, peer: string): Uint8Array | undefined {
  return withReader(`${dir}/daemon.db`, (db) => {
    const r = db.prepare(
      "SELECT state FROM sessions WHERE peer = ? ORDER BY created_at DESC, rowid DESC LIMIT 1",
    ).get(peer) as { state: Uint8Array } | undefined;
    return r?.state.slice();
  });
}

Deno.test("forward secrecy at rest: a superseded session state is in no database file once its messages are acknowledged", async () => {
  const { a, b, done } = await startPair();
  try {
    const deliver = async (texts: string[]) => {
      const sent: { id: string }[] = [];
      for (const text of texts) sent.push(await a.api.send({ to: b.id, text }));
      await waitFor(
        async () => {
          const ms = await Promise.all(sent.map((m) => a.api.message(m.id)));
          return ms.every((m) => m.status === "delivered");
        },
        "acknowledged",
        10_000,
      );
    };
    await deliver(["one", "two"]);
    const s1 = await waitFor(() => currentState(b.stateDir, a.id), "B's session with A");
    assertOk(s1.length > 64, `a sealed state (${s1.length} bytes)`);
    // Positive control: the blob is in the files as they are now, whole.
    assertOk(
      (await dbFiles(b.stateDir)).some((f) => contains(f.bytes, s1)),
      "S1 is in B's database files",
    );

    await deliver(["three", "four", "five"]);
    const s2 = currentState(b.stateDir, a.id)!;
    assertOk(!contains(s2, s1.subarray(0, 32)), "the state moved on");
    const t0 = Date.now();
    await waitFor(
      async () => !anyChunkIn(await dbFiles(b.stateDir), s1),
      "S1 to leave daemon.db, daemon.db-wal and daemon.db-shm",
      10 * CHECKPOINT_MS,
    );
    const gone = Date.now() - t0;
    const files = await dbFiles(b.stateDir);
    assertEquals(files.map((f) => f.name).sort(), ["daemon.db", "daemon.db-shm", "daemon.db-wal"]);
    for (const f of files) assertOk(!anyChunkIn([f], s1), `S1 in ${f.name}`);
    assertEquals(files.find((f) => f.name === "daemon.db-wal")!.bytes.length, 0, "WAL truncated");
    // Positive control: the current state is there.
    const now = currentState(b.stateDir, a.id)!;
    assertOk((await dbFiles(b.stateDir)).some((f) => contains(f.bytes, now)), "current state");
    console.log(`superseded state gone ${gone} ms after the acknowledgement was seen`);
  } finally {
    await done();
  }
});

/** A session as a finished handshake would give (random handshake hash and keys). */
async function randomSession(): Promise<E2ESession> {
  const r = (n: number) => crypto.getRandomValues(new Uint8Array(n));
  return await E2ESession.fromHandshake({
    h: r(32),
    split: [r(32), r(32)],
    initiator: true,
    localId: r(16),
    peerId: r(16),
  });
}

function stateOf(db: DatabaseSync, sid: Uint8Array): Uint8Array {
  const r = db.prepare("SELECT state FROM sessions WHERE sid = ?").get(toBase64Url(sid)) as {
    state: Uint8Array;
  };
  return r.state.slice();
}

Deno.test("forward secrecy at rest: after a session update or drop and checkpoint(), the old blob is in no file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "schied-fs-" });
  const sealer = new Sealer(crypto.getRandomValues(new Uint8Array(32)));
  const db = openDb(dir, sealer);
  try {
    const self = new Self(
      { id: crypto.getRandomValues(new Uint8Array(16)) } as unknown as Identity,
    );
    const sessions = new SessionManager(new Store(db, sealer), self, Date.now);
    const peer = "peer";
    const s = await randomSession();
    tx(db, () => sessions.install(peer, s));
    checkpoint(db);
    const old = stateOf(db, s.sid);
    assertOk((await dbFiles(dir)).some((f) => contains(f.bytes, old)), "control: S1 on disk");

    // The chain moves on (a message sealed): the row is updated.
    await s.seal(new Uint8Array(64), { now: Date.now() });
    tx(db, () => sessions.save(peer, s));
    const next = stateOf(db, s.sid);
    // Before the checkpoint the old page is still in daemon.db: the checkpoint is needed.
    assertOk(
      (await dbFiles(dir)).some((f) => f.name === "daemon.db" && contains(f.bytes, old)),
      "control: without a checkpoint the superseded state is still in daemon.db",
    );
    checkpoint(db);
    let files = await dbFiles(dir);
    assertOk(!anyChunkIn(files, old), "the superseded state is gone after checkpoint()");
    assertOk(files.some((f) => contains(f.bytes, next)), "the current state is there");

    // Two newer handshakes: the first session is dropped (two are kept per peer).
    const s2 = await randomSession(), s3 = await randomSession();
    tx(db, () => sessions.install(peer, s2));
    tx(db, () => sessions.install(peer, s3));
    checkpoint(db);
    files = await dbFiles(dir);
    assertOk(!anyChunkIn(files, next), "a dropped session's state is gone");
    assertOk(files.some((f) => contains(f.bytes, stateOf(db, s3.sid))), "s3 is there");
    assertOk(files.some((f) => contains(f.bytes, stateOf(db, s2.sid))), "s2 is kept");
    const wal = files.find((f) => f.name === "daemon.db-wal");
    assertEquals(wal?.bytes.length ?? 0, 0, "the WAL is truncated");
    assertEquals(
      (db.prepare("PRAGMA secure_delete").get() as { secure_delete: number }).secure_delete,
      1,
    );
  } finally {
    db.close();
  }
});

Deno.test("forward secrecy at rest, control: without secure_delete a deleted blob survives a checkpoint", async () => {
  // The same operations on a scratch database, with and without secure_delete: what the
  // daemon's PRAGMA buys.
  for (const secure of [false, true]) {
    const dir = await Deno.makeTempDir({ prefix: "schied-fs-control-" });
    const db = new DatabaseSync(`${dir}/daemon.db`);
    try {
      db.exec("PRAGMA journal_mode=WAL");
      db.exec(`PRAGMA secure_delete=${secure ? "ON" : "OFF"}`);
      db.exec("CREATE TABLE sessions (sid TEXT PRIMARY KEY, state BLOB NOT NULL)");
      const blob = crypto.getRandomValues(new Uint8Array(300));
      db.prepare("INSERT INTO sessions VALUES ('a', ?)").run(blob);
      db.prepare("INSERT INTO sessions VALUES ('b', ?)").run(new Uint8Array(100));
      checkpoint(db);
      db.exec("DELETE FROM sessions WHERE sid = 'a'");
      const before = await dbFiles(dir);
      assertOk(anyChunkIn(before, blob), `before the checkpoint the blob is there (${secure})`);
      checkpoint(db);
      const after = await dbFiles(dir);
      assertEquals(
        anyChunkIn(after, blob),
        !secure,
        secure ? "secure_delete + checkpoint: gone" : "no secure_delete: still in daemon.db",
      );
    } finally {
      db.close();
    }
  }
});
