/**
 * The registry's schema versions: a registry written by the release before versions (commit
 * 44d41ba, tests/fixtures/v1_state/relay: no user_version, a `first_seen` day per id) is migrated
 * when the relay starts: its ids and keys are served as before, `PRAGMA user_version` is 2, and
 * the `first_seen` column is gone, dates included (secure_delete zeroes the old pages). A
 * registry newer than the code is refused at start with a clear error, and left untouched.
 */
import { DatabaseSync } from "node:sqlite";
import { assertEquals, assertOk } from "../_assert.ts";
import { ROOT, SCHIED, startRelayProcess } from "../harness.ts";
import { parseRelayAddress } from "../../protocol/address.ts";
import { fromBase64Url } from "../../protocol/bytes.ts";
import { idMatchesKey, parseId } from "../../protocol/identity.ts";
import { REGISTRY_MIGRATIONS } from "../../relay/registry.ts";

const FIXTURE = `${ROOT}/tests/fixtures/v1_state`;

/** A private copy of the fixture's relay state dir. */
async function copyFixture(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "schied-relay-v1-" });
  for (const f of ["registry.db", "relay.key"]) {
    await Deno.copyFile(`${FIXTURE}/relay/${f}`, `${dir}/${f}`);
    await Deno.chmod(`${dir}/${f}`, 0o600);
  }
  await Deno.chmod(dir, 0o700);
  return dir;
}

function inspect(path: string) {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const version = Number(
      (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
    );
    const columns = (db.prepare("PRAGMA table_info(identities)").all() as { name: string }[])
      .map((c) => c.name);
    const rows = db.prepare("SELECT count(*) AS n FROM identities").get() as { n: number };
    return { version, columns, rows: Number(rows.n) };
  } finally {
    db.close();
  }
}

/** The bytes of the registry's files (the database, and its WAL if one is left). */
async function registryBytes(dir: string): Promise<string> {
  let text = "";
  for (const f of ["registry.db", "registry.db-wal"]) {
    try {
      text += new TextDecoder("latin1").decode(await Deno.readFile(`${dir}/${f}`));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return text;
}

Deno.test("registry migration: the previous release's registry is migrated to version 2; ids, keys and the relay key survive, the dates are gone", async () => {
  const manifest = JSON.parse(await Deno.readTextFile(`${FIXTURE}/manifest.json`));
  const dir = await copyFixture();
  try {
    const before = inspect(`${dir}/registry.db`);
    assertEquals(before.version, 0, "the fixture predates schema versions");
    assertOk(before.columns.includes("first_seen"), `fixture columns ${before.columns}`);
    const db = new DatabaseSync(`${dir}/registry.db`, { readOnly: true });
    const days = (db.prepare("SELECT DISTINCT first_seen AS d FROM identities").all() as {
      d: string;
    }[]).map((r) => r.d);
    db.close();
    assertOk(days.length > 0 && days.every((d) => /^\d{4}-\d\d-\d\d$/.test(d)), `days ${days}`);
    const fixtureFiles = await registryBytes(dir);
    assertOk(days.every((d) => fixtureFiles.includes(d)), "the days are in the file");

    const relay = await startRelayProcess({ stateDir: dir });
    try {
      assertEquals(
        parseRelayAddress(relay.address).key,
        parseRelayAddress(manifest.relay_address).key,
        "the relay key is the fixture's",
      );
      const listening = JSON.parse(relay.log.find((l) => l.includes('"relay_listening"'))!);
      assertEquals(listening.registry_ids, before.rows);
      for (const who of ["alice", "bob"]) {
        const id: string = manifest[who].id;
        const res = await fetch(`${relay.http}/v1/keys/${id}`);
        assertEquals(res.status, 200, `${who} is served`);
        const body = await res.json();
        assertEquals(Object.keys(body).sort(), ["id", "public_key"], "no first_seen");
        assertEquals(body.id, id);
        assertOk(idMatchesKey(parseId(id), fromBase64Url(body.public_key)), `${who}'s key`);
      }
    } finally {
      assertEquals(await relay.stop(), 0);
    }
    const after = inspect(`${dir}/registry.db`);
    assertEquals(after.version, 2);
    assertEquals(after.version, REGISTRY_MIGRATIONS.length, "the newest version");
    assertEquals(after.columns, ["id", "public_key"], "first_seen is gone");
    assertEquals(after.rows, before.rows, "no id lost");
    const files = await registryBytes(dir);
    assertOk(days.every((d) => !files.includes(d)), `the days ${days} are not left in the files`);

    // A second start finds version 2 and changes nothing.
    const again = await startRelayProcess({ stateDir: dir });
    const res = await fetch(`${again.http}/v1/keys/${manifest.bob.id}`);
    assertEquals(res.status, 200);
    await res.body?.cancel();
    assertEquals(await again.stop(), 0);
    assertEquals(inspect(`${dir}/registry.db`), after);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("registry migration: a registry with a newer schema (user_version 99) is refused at start, exit 1, naming the version, and left as it was", async () => {
  for (const mode of ["wal", "delete"]) {
    const dir = await copyFixture();
    try {
      // Both journal modes: switching a rollback-mode file to WAL would rewrite its header.
      const db = new DatabaseSync(`${dir}/registry.db`);
      db.exec(`PRAGMA journal_mode = ${mode}`);
      db.exec("PRAGMA user_version = 99");
      db.close();
      const bytes = await Deno.readFile(`${dir}/registry.db`);
      const out = await new Deno.Command(SCHIED, {
        args: ["relay", "--port", "0", "--state-dir", dir, "--metrics-listen", "127.0.0.1:0"],
        env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assertEquals(out.code, 1, stderr);
      assertEquals(new TextDecoder().decode(out.stdout), "", "no relay address printed");
      assertOk(stderr.includes("schied: error:"), stderr);
      assertOk(/schema version 99\b/.test(stderr), `names the version: ${stderr}`);
      assertOk(stderr.includes("newer than this release knows (2)"), stderr);
      assertEquals(inspect(`${dir}/registry.db`).version, 99, "not rewritten");
      assertEquals(await Deno.readFile(`${dir}/registry.db`), bytes, `${mode}: not a byte changed`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("registry: a too-new registry is reported as a plain error, without 'unexpected' or a stack trace", async () => {
  const dir = await Deno.makeTempDir({ prefix: "schied-relay-v99-" });
  try {
    for (const f of ["registry.db", "relay.key"]) {
      await Deno.copyFile(`${ROOT}/tests/fixtures/v1_state/relay/${f}`, `${dir}/${f}`);
      await Deno.chmod(`${dir}/${f}`, 0o600);
    }
    const db = new DatabaseSync(`${dir}/registry.db`);
    db.exec("PRAGMA user_version = 99");
    db.close();
    const out = await new Deno.Command(SCHIED, {
      args: ["relay", "--port", "0", "--state-dir", dir, "--metrics-listen", "off"],
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 1);
    assertOk(stderr.startsWith("schied: error: The registry has schema version 99"), stderr);
    assertOk(!stderr.includes("unexpected") && !/\bat \w+ \(file:/.test(stderr), stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
