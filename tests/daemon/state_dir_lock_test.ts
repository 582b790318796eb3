/**
 * Issue 7, item 11: one daemon per state dir. A second `schied daemon` on a dir in use exits 1
 * with `schied: error: another daemon (pid N) is using DIR` and a hint, before writing anything
 * (the token, the addresses, the database: nothing changes), and the first one stays online
 * without flapping. `schied init` and `schied id --rotate` honour the lock; a lock left by a
 * killed daemon is no lock.
 *
 * The previous release let the second daemon rewrite api-token (even when its port was busy),
 * and two daemons knocked each other off the relay about once a second.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { startRelayProcess, waitFor } from "../harness.ts";
import { cli, collectEvents, startDaemonProcess, waitOnline } from "../daemon_harness.ts";
import { LOCK_FILE, lockStateDir } from "../../daemon/lock.ts";
import { IDENTITY_FILE } from "../../daemon/keystore.ts";
import { fileHash } from "./_at_rest.ts";

/**
 * Name → mtime, size and hash of every file in `dir`, and the dir's own mtime. The content of
 * daemon.db-shm is left out: it is SQLite's shared index, which the running daemon's own reads
 * may touch (its name is kept: a second daemon must not create or remove it either).
 */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {
    ".": String((await Deno.stat(dir)).mtime?.getTime()),
  };
  for await (const e of Deno.readDir(dir)) {
    if (e.name.endsWith("-shm")) {
      out[e.name] = "present";
      continue;
    }
    const st = await Deno.stat(`${dir}/${e.name}`);
    out[e.name] = `${st.mtime?.getTime()} ${st.size} ${await fileHash(`${dir}/${e.name}`)}`;
  }
  return out;
}

const lockPid = async (dir: string) =>
  Number((await Deno.readTextFile(`${dir}/${LOCK_FILE}`)).trim());

/** The two lines of a lock refusal, checked exactly. */
function assertLockRefusal(
  r: { code: number; stderr: string; stdout: string },
  pid: number,
  dir: string,
  exit = 1,
  tail = "",
): void {
  assertEquals(r.code, exit, r.stderr);
  const lines = r.stderr.trimEnd().split("\n");
  assertEquals(lines[0], `schied: error: another daemon (pid ${pid}) is using ${dir}${tail}`);
  assertEquals(lines.length, 2, r.stderr);
  assertOk(/^schied: hint: \S/.test(lines[1]!), r.stderr);
  assertEquals(r.stdout, "");
}

Deno.test("state dir lock: a second daemon exits 1 naming the first, writes nothing, and the first stays online", async () => {
  const relay = await startRelayProcess();
  const a = await startDaemonProcess({ relay: relay.address });
  const b = await startDaemonProcess({ relay: relay.address });
  const ev = collectEvents(a, 0);
  try {
    await Promise.all([waitOnline(a), waitOnline(b)]);
    await a.api.addContact({ id: b.id });
    await b.api.addContact({ id: a.id });
    const pid = a.child.pid;
    assertEquals(await lockPid(a.stateDir), pid, "daemon.lock holds the daemon's pid");
    // Quiet: A has journaled B's presence (its watch of the new contact is answered: a write
    // that could otherwise come after the snapshot), and the writes of the start are
    // checkpointed, the WAL is empty again.
    await waitFor(
      () => ev.events.some((e) => e.type === "presence" && e.data.id === b.id && e.data.online),
      "A saw B online",
    );
    await waitFor(
      async () => (await Deno.stat(`${a.stateDir}/daemon.db-wal`)).size === 0,
      "A's WAL checkpointed",
    );
    const before = await snapshot(a.stateDir);
    const token = await Deno.readFile(`${a.stateDir}/api-token`);
    const port = new URL(a.apiUrl).port;

    // A second daemon: on another port, and on the first one's (busy) port.
    const dir = a.stateDir;
    for (const api of ["127.0.0.1:0", `127.0.0.1:${port}`]) {
      const r = await cli(["daemon", "--api", api, "--state-dir", dir, "--relay", relay.address]);
      assertLockRefusal(r, pid, dir);
    }
    // init refuses too.
    assertLockRefusal(await cli(["init", "--state-dir", dir]), pid, dir);

    assertEquals(await Deno.readFile(`${dir}/api-token`), token, "api-token not rewritten");
    assertEquals(await snapshot(dir), before, "no file in the state dir changed");

    // The first daemon keeps working: its token, its link, a message through.
    assertEquals((await a.api.status()).relay.state, "online");
    const m = await a.api.send({ to: b.id, text: "still here" });
    await waitFor(async () => (await a.api.message(m.id)).status === "delivered", "delivered");
    const relayEvents = ev.events.filter((e) => e.type === "relay");
    assertEquals(relayEvents.at(-1)?.data.state, "online", JSON.stringify(relayEvents));
    assertEquals(
      relayEvents.filter((e) => e.data.state === "offline"),
      [],
      "A never went offline",
    );
    assertOk(!relayEvents.some((e) => e.data.code === "replaced"), "never replaced");
    const metrics = await (await fetch(`${relay.metrics}/metrics`)).text();
    const replaced = /^schied_sessions_replaced_total (\d+)$/m.exec(metrics);
    assertEquals(replaced?.[1], "0", "the relay replaced no session");

    // While the daemon runs, `id --rotate` goes through its API (the daemon holds the lock).
    const oldId = a.id;
    const rot = await cli(["id", "--rotate", "--state-dir", dir]);
    assertEquals(rot.code, 0, rot.stderr);
    const newId = rot.stdout.trim();
    assertOk(newId !== oldId && /^[0-9a-f-]{36}$/.test(newId), rot.stdout);
    assertEquals((await a.api.me()).id, newId);
    assertEquals((await a.api.me()).retired.map((r) => r.id), [oldId]);
    assertEquals(await lockPid(dir), pid, "the lock is still the daemon's");
    await waitOnline(a);
  } finally {
    ev.stop();
    assertEquals(await a.stop(), 0);
    assertEquals(await b.stop(), 0);
    assertEquals(await relay.stop(), 0);
  }
});

Deno.test("state dir lock: id --rotate works offline under the lock; it and init refuse a dir another process holds", async () => {
  const dir = `${await Deno.makeTempDir({ prefix: "schied-lock-" })}/state`;
  const init = await cli(["init", "--state-dir", dir]);
  assertEquals(init.code, 0, init.stderr);
  const id0 = init.stdout.trim();
  const identity = `${dir}/${IDENTITY_FILE}`;

  // Another process (this test) holds the lock, and no API answers.
  const held = lockStateDir(dir);
  try {
    const hash = await fileHash(identity);
    const rot = await cli(["id", "--rotate", "--state-dir", dir]);
    assertLockRefusal(rot, Deno.pid, dir, 3, ", and its API did not answer");
    assertLockRefusal(await cli(["init", "--state-dir", dir]), Deno.pid, dir);
    const d = await cli(["daemon", "--api", "127.0.0.1:0", "--state-dir", dir]);
    assertLockRefusal(d, Deno.pid, dir);
    assertEquals(await fileHash(identity), hash, "identity.json untouched");
    assertEquals(await lockPid(dir), Deno.pid);
  } finally {
    held.release();
  }

  // No daemon, no lock: --rotate rotates offline.
  const rot = await cli(["id", "--rotate", "--state-dir", dir]);
  assertEquals(rot.code, 0, rot.stderr);
  const id1 = rot.stdout.trim();
  assertOk(id1 !== id0, "a new id");
  const json = await cli(["id", "--json", "--state-dir", dir]);
  assertEquals(json.code, 0, json.stderr);
  const me = JSON.parse(json.stdout);
  assertEquals([me.id, me.retired.map((r: { id: string }) => r.id)], [id1, [id0]]);
  assertOk(typeof me.fingerprint === "string" && !("safety_number" in me), json.stdout);
  // The lock was released: a daemon starts, with the rotated identity.
  const d = await startDaemonProcess({ stateDir: dir });
  try {
    assertEquals(d.id, id1);
    assertEquals(await lockPid(dir), d.child.pid);
  } finally {
    assertEquals(await d.stop(), 0);
  }
});

Deno.test("state dir lock: a daemon killed with SIGKILL leaves no stale lock; the next one starts and takes it", async () => {
  const relay = await startRelayProcess();
  try {
    const d1 = await startDaemonProcess({ relay: relay.address });
    await waitOnline(d1);
    const dir = d1.stateDir;
    assertEquals(await lockPid(dir), d1.child.pid);
    d1.kill("SIGKILL");
    assertEquals((await d1.exited).signal, "SIGKILL");
    assertEquals(await lockPid(dir), d1.child.pid, "the lock file is left behind");

    const d2 = await startDaemonProcess({ stateDir: dir }); // the relay address is remembered
    try {
      assertEquals(d2.id, d1.id);
      assertEquals(await lockPid(dir), d2.child.pid, "the pid in daemon.lock is the new one");
      await waitOnline(d2);
      // And it holds the lock for real.
      const again = await cli(["daemon", "--api", "127.0.0.1:0", "--state-dir", dir]);
      assertLockRefusal(again, d2.child.pid, dir);
    } finally {
      assertEquals(await d2.stop(), 0);
    }
  } finally {
    assertEquals(await relay.stop(), 0);
  }
});
