/**
 * Issue 7, item 13: schema versions. The state dirs written by the release before versions
 * (commit 44d41ba, tests/fixtures/v1_state: alice sealed with a passphrase at scrypt N=2^16,
 * bob plain, and the relay) open with this release: ids, contacts and their names, sessions,
 * the outbox and the history survive; the `schied/1` sessions are dropped (version 4: a symmetric
 * session cannot become a ratchet) and the queued message goes out over a new hybrid session
 * after an automatic handshake; both databases are at user_version 8 with the texts sealed, the old plaintext
 * gone from the files, and the names found in any case (issue 9.12); identity.json is version
 * 2 (alice's sealed again at N=2^17). A database newer than the code is refused with a clear
 * error and left as it was. And migrate() itself: one transaction for all pending steps, no
 * gaps in the numbering.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { assertEquals, assertOk, assertThrows } from "../_assert.ts";
import { ROOT, startRelayProcess, waitFor } from "../harness.ts";
import { cli, collectEvents, startDaemonProcess, waitOnline } from "../daemon_harness.ts";
import { IDENTITY_FILE } from "../../daemon/keystore.ts";
import {
  migrate,
  type Migration,
  SchemaTooNewError,
  schemaVersion,
} from "../../lib/sqlite_schema.ts";
import {
  fileHash,
  findAll,
  passphraseFile,
  stateFiles,
  textForms,
  withReader,
} from "./_at_rest.ts";

const FIXTURE = `${ROOT}/tests/fixtures/v1_state`;
/** Ten years: the fixture's queued message must not expire while this test is kept. */
const GIVE_UP = String(10 * 365 * 86400);

interface Manifest {
  relay_address: string;
  alice: { id: string; passphrase: string };
  bob: { id: string };
  delivered: string[];
  queued: string;
}

/** A private copy (0700 dir, 0600 files) of one of the fixture's state dirs. */
async function copyOf(name: "alice" | "bob" | "relay", root: string): Promise<string> {
  const dir = `${root}/${name}`;
  await Deno.mkdir(dir, { mode: 0o700 });
  for await (const e of Deno.readDir(`${FIXTURE}/${name}`)) {
    await Deno.copyFile(`${FIXTURE}/${name}/${e.name}`, `${dir}/${e.name}`);
    await Deno.chmod(`${dir}/${e.name}`, 0o600);
  }
  await Deno.chmod(dir, 0o700);
  return dir;
}

const version = (path: string) => withReader(path, (db) => schemaVersion(db));

/** The session ids per peer, as stored (the sid column is in clear in both versions). */
function sids(dir: string): string[] {
  return withReader(
    `${dir}/daemon.db`,
    (db) =>
      (db.prepare("SELECT peer, sid FROM sessions ORDER BY peer, sid").all() as {
        peer: string;
        sid: string;
      }[]).map((r) => `${r.peer}/${r.sid}`),
  );
}

/** The v1 plaintext: texts and session states (with their chain keys) as the fixture has them. */
function v1Plaintext(dir: string): string[] {
  return withReader(`${dir}/daemon.db`, (db) => {
    const texts = (db.prepare("SELECT text FROM messages").all() as { text: string }[]).map((r) =>
      r.text
    );
    const keys = (db.prepare("SELECT state FROM sessions").all() as { state: string }[])
      .flatMap((r) => {
        const j = JSON.parse(r.state) as { sendCk: string; recvCk: string };
        return [j.sendCk, j.recvCk];
      });
    return [...texts, ...keys];
  });
}

Deno.test("migration: the previous release's state dirs open intact, the queued message goes out over a new session", async () => {
  const m = JSON.parse(await Deno.readTextFile(`${FIXTURE}/manifest.json`)) as Manifest;
  const root = await Deno.makeTempDir({ prefix: "schied-migration-" });
  const [aliceDir, bobDir, relayDir] = [
    await copyOf("alice", root),
    await copyOf("bob", root),
    await copyOf("relay", root),
  ];
  assertEquals([version(`${aliceDir}/daemon.db`), version(`${bobDir}/daemon.db`)], [0, 0]);
  const sidsBefore = { alice: sids(aliceDir), bob: sids(bobDir) };
  assertOk(sidsBefore.alice.length > 0 && sidsBefore.bob.length > 0, "the fixture has sessions");
  const plaintext = { alice: v1Plaintext(aliceDir), bob: v1Plaintext(bobDir) };
  assertOk(plaintext.alice.includes("ünïcödé ✓ 🎉") && plaintext.alice.includes("hello bob"));
  // Positive control: the search finds the v1 plaintext in the v1 files.
  assertOk(
    findAll(await stateFiles(aliceDir), textForms("queued while bob is away")).length > 0,
    "the v1 database has the texts in clear",
  );

  const relay = await startRelayProcess({ stateDir: relayDir });
  // The relay key was kept: the address changes by its port only.
  assertEquals(new URL(relay.address).hash, new URL(m.relay_address).hash);
  const pass = await passphraseFile(m.alice.passphrase);
  const alice = await startDaemonProcess({
    stateDir: aliceDir,
    relay: relay.address,
    args: ["--passphrase-file", pass, "--give-up", GIVE_UP],
  });
  let bob: Awaited<ReturnType<typeof startDaemonProcess>> | undefined;
  try {
    await waitOnline(alice);
    assertEquals(alice.id, m.alice.id, "alice's id unchanged");
    const s = await alice.api.status();
    assertEquals(s.sessions, 0, "alice's schied/1 session was dropped (version 4)");
    assertEquals(s.contacts, 1);
    assertEquals(s.outbox.size, 1, "the queued message is in the outbox");
    const contacts = await alice.api.contacts();
    assertEquals(contacts.map((c) => [c.id, c.name]), [[m.bob.id, "bob"]]);
    assertOk(contacts[0]!.identity_key, "bob's key is still pinned");
    const history = await alice.api.messages({ with: "bob" }); // by the (migrated) name
    assertEquals(
      history.map((x) => [x.id, x.direction, x.text, x.seq]).sort(),
      [
        [m.delivered[0], "out", "hello bob", 1],
        [m.delivered[1], "out", "how are you?", 2],
        [m.delivered[2], "out", "ünïcödé ✓ 🎉", 3],
        [m.delivered[3], "in", "hi alice, fine", 1],
        [m.queued, "out", "queued while bob is away", 4],
      ].sort(),
    );
    for (const x of history.filter((h) => h.id !== m.queued)) assertEquals(x.status, "delivered");
    const q = history.find((h) => h.id === m.queued)!;
    assertOk(q.status === "queued" || q.status === "sent", `still undelivered: ${q.status}`);
    assertEquals(q.peer_name, "bob");

    const b = bob = await startDaemonProcess({ stateDir: bobDir, relay: relay.address });
    const evB = collectEvents(b, 0);
    try {
      await waitOnline(b);
      assertEquals(b.id, m.bob.id, "bob's id unchanged");
      assertEquals((await b.api.contacts()).map((c) => [c.id, c.name]), [[m.alice.id, "alice"]]);
      // Bob's schied/1 session was dropped too; alice's queued message may have brought a new
      // one already (her handshake runs as soon as bob is online), never the old one (below).
      assertOk((await b.api.status()).sessions <= 1);

      // The queued message arrives, after the restart of all three.
      await waitFor(
        async () => (await alice.api.message(m.queued)).status === "delivered",
        "the queued message delivered",
        15_000,
      );
      const atBob = await b.api.messages({ with: "alice" });
      assertEquals(
        atBob.map((x) => [x.id, x.direction, x.text, x.status]).sort(),
        [
          [m.delivered[3], "out", "hi alice, fine", "delivered"],
          [m.delivered[0], "in", "hello bob", "delivered"],
          [m.delivered[1], "in", "how are you?", "delivered"],
          [m.delivered[2], "in", "ünïcödé ✓ 🎉", "delivered"],
          [m.queued, "in", "queued while bob is away", "delivered"],
        ].sort(),
      );
      assertEquals(atBob.find((x) => x.id === m.queued)!.seq, 4, "in sequence after seq 3");
      await waitFor(
        () => evB.events.some((e) => e.type === "message" && e.data.id === m.queued),
        "bob's message event",
      );
      assertOk(!evB.events.some((e) => e.type === "request"), "alice is no stranger to bob");

      // A new message each way, by name (the blind index of migrated names works, caseless).
      const n1 = await alice.api.send({ to: "BOB", text: "after the migration" });
      const n2 = await b.api.send({ to: "alice", text: "got it" });
      await waitFor(async () => {
        const [x, y] = [await alice.api.message(n1.id), await b.api.message(n2.id)];
        return x.status === "delivered" && y.status === "delivered";
      }, "new messages delivered");
      // One new session each, from the automatic re-handshake; none of the old ones is left.
      assertEquals((await alice.api.status()).sessions, 1);
      assertEquals((await b.api.status()).sessions, 1);
      for (
        const [dir, before] of [[aliceDir, sidsBefore.alice], [bobDir, sidsBefore.bob]] as const
      ) {
        const now = sids(dir);
        assertEquals(now.length, 1, `${dir}: one session`);
        assertOk(!before.some((x) => now.includes(x)), `${dir}: the schied/1 sessions are gone`);
      }
    } finally {
      evB.stop();
    }
  } finally {
    const codes = [await alice.stop(), await bob?.stop(), await relay.stop()];
    assertEquals(codes, [0, bob ? 0 : undefined, 0]);
  }

  // The files after: version 3, sealed, no v1 plaintext left.
  for (const dir of [aliceDir, bobDir]) {
    assertEquals(version(`${dir}/daemon.db`), 8, `${dir}: user_version`);
    const cols = withReader(
      `${dir}/daemon.db`,
      (db) =>
        (db.prepare("PRAGMA table_info(messages)").all() as { name: string }[]).map((c) => c.name),
    );
    assertOk(cols.includes("body") && !cols.includes("text"), cols.join());
  }
  for (const [who, dir] of [["alice", aliceDir], ["bob", bobDir]] as const) {
    const files = (await stateFiles(dir)).filter((f) => f.name.startsWith("daemon.db"));
    assertOk(files.some((f) => f.name === "daemon.db"));
    const hits = findAll(files, plaintext[who].flatMap((t) => textForms(t)));
    assertEquals(hits, [], `${who}: v1 plaintext left in the migrated database files`);
  }
  const aliceId = JSON.parse(await Deno.readTextFile(`${aliceDir}/${IDENTITY_FILE}`));
  assertEquals(aliceId.version, 2);
  assertEquals([aliceId.sealed?.kdf, aliceId.sealed?.N], ["scrypt", 131072], "re-sealed at 2^17");
  assertOk(!("current" in aliceId), "alice's identity stays sealed");
  const bobId = JSON.parse(await Deno.readTextFile(`${bobDir}/${IDENTITY_FILE}`));
  assertEquals(bobId.version, 2);
  assertOk(typeof bobId.dataKey === "string" && !("sealed" in bobId));
  const fixtureBob = JSON.parse(await Deno.readTextFile(`${FIXTURE}/bob/${IDENTITY_FILE}`));
  assertEquals(bobId.current, fixtureBob.current, "bob's keys unchanged");
});

Deno.test("migration: a daemon.db newer than the code is refused (exit 1, naming the version) and left unchanged", async () => {
  // A database in WAL mode (as a newer daemon would leave it), and one in rollback mode.
  for (const mode of ["wal", "delete"]) {
    const dir = `${await Deno.makeTempDir({ prefix: "schied-too-new-" })}/state`;
    const init = await cli(["init", "--state-dir", dir]);
    assertEquals(init.code, 0, init.stderr);
    const db = new DatabaseSync(`${dir}/daemon.db`);
    db.exec(`PRAGMA journal_mode=${mode}`);
    db.exec("CREATE TABLE from_the_future (x BLOB); INSERT INTO from_the_future VALUES (x'00')");
    db.exec("PRAGMA user_version = 99");
    db.close();
    await Deno.chmod(`${dir}/daemon.db`, 0o600);
    const before = await fileHash(`${dir}/daemon.db`);
    const r = await cli(["daemon", "--api", "127.0.0.1:0", "--state-dir", dir]);
    assertEquals(r.code, 1, r.stderr);
    assertOk(/^schied: error: .*schema version 99\b.*newer/m.test(r.stderr), r.stderr);
    assertOk(!/ at .*\.ts:\d+/.test(r.stderr), `no stack trace: ${r.stderr}`);
    assertEquals(await fileHash(`${dir}/daemon.db`), before, `${mode}: daemon.db unchanged`);
    assertEquals(version(`${dir}/daemon.db`), 99);
    assertEquals(await fileHash(`${dir}/api-token`), undefined, "no token written");
  }
});

/** A scratch database with a log of the steps run. */
function scratch() {
  const db = new DatabaseSync(":memory:");
  const ran: number[] = [];
  const step = (version: number, sql: string, fail = false): Migration => ({
    version,
    name: `step ${version}`,
    up: (d) => {
      ran.push(version);
      d.exec(sql);
      if (fail) throw new Error(`step ${version} fails`);
    },
  });
  const tables = () =>
    (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as {
      name: string;
    }[]).map((r) => r.name);
  return { db, ran, step, tables };
}

Deno.test("migrate(): pending steps run in order, in one transaction; a failing step leaves the old version and no partial change", () => {
  const { db, ran, step, tables } = scratch();
  const s1 = step(1, "CREATE TABLE t1 (x)");
  const s2 = step(2, "CREATE TABLE t2 (x); INSERT INTO t1 VALUES (1)");
  const s3bad = step(3, "CREATE TABLE t3 (x); INSERT INTO t1 VALUES (2)", true);

  // From nothing, steps 1..3 with 3 failing: none of 1, 2 or 3 stays.
  assertThrows(() => migrate(db, [s1, s2, s3bad], "x.db"), (e) => /step 3 fails/.test(e.message));
  assertEquals(ran, [1, 2, 3]);
  assertEquals(schemaVersion(db), 0);
  assertEquals(tables(), [], "no partial change");
  assertOk(!db.isTransaction, "rolled back");

  // 1 and 2 apply; their changes and the version commit together.
  ran.length = 0;
  assertEquals(migrate(db, [s1, s2], "x.db"), { from: 0, to: 2 });
  assertEquals(ran, [1, 2]);
  assertEquals(schemaVersion(db), 2);
  assertEquals(tables(), ["t1", "t2"]);

  // From 2, only step 3 runs; when it fails, version 2 and its data are untouched.
  ran.length = 0;
  assertThrows(() => migrate(db, [s1, s2, s3bad], "x.db"));
  assertEquals(ran, [3]);
  assertEquals(schemaVersion(db), 2);
  assertEquals(tables(), ["t1", "t2"]);
  assertEquals(Number((db.prepare("SELECT count(*) AS n FROM t1").get() as { n: number }).n), 1);

  // Up to date: nothing runs.
  ran.length = 0;
  assertEquals(migrate(db, [s1, s2], "x.db"), { from: 2, to: 2 });
  assertEquals(ran, []);
  db.close();
});

Deno.test("migrate(): gaps or disorder in the numbering are rejected before any step runs; a newer database is refused untouched", () => {
  const { db, ran, step, tables } = scratch();
  const s1 = step(1, "CREATE TABLE t1 (x)");
  for (
    const bad of [
      [s1, step(3, "CREATE TABLE t3 (x)")],
      [step(2, "CREATE TABLE t2 (x)"), s1],
      [step(0, "CREATE TABLE t0 (x)")],
      [s1, step(2, "SELECT 1"), step(2, "SELECT 1")],
    ]
  ) {
    assertThrows(() => migrate(db, bad, "x.db"), (e) => /numbered/.test(e.message));
    assertEquals(ran, [], "no step ran");
    assertEquals(schemaVersion(db), 0);
    assertEquals(tables(), []);
  }

  db.exec("PRAGMA user_version = 5");
  const e = assertThrows(() => migrate(db, [s1], "future.db"));
  assertOk(e instanceof SchemaTooNewError, String(e));
  assertEquals([e.what, e.found, e.known], ["future.db", 5, 1]);
  assertOk(/future\.db has schema version 5, newer than this release knows \(1\)/.test(e.message));
  assertEquals(ran, []);
  assertEquals(schemaVersion(db), 5);
  db.close();
});
