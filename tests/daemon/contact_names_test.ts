/**
 * Issue 9, item 12: contact names are case-insensitive and unique. The caseless key (Unicode
 * full case folding after normalization), lookups and uniqueness in Contacts, and migration 3,
 * which recomputes the blind index of stored names and renames the ones that now collide (the
 * first added keeps its name; no row, name or key is lost).
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { assertEquals, assertOk, assertThrows } from "../_assert.ts";
import { Contacts } from "../../daemon/contacts.ts";
import { DB_FILE, openDb } from "../../daemon/db.ts";
import { Keystore } from "../../daemon/keystore.ts";
import { nameKey } from "../../daemon/names.ts";
import { Sealer } from "../../daemon/sealer.ts";
import type { Self } from "../../daemon/self.ts";
import { ServiceError } from "../../daemon/service.ts";
import { Store } from "../../daemon/store.ts";
import { daemonMigrations, type Renamed, SEALED } from "../../daemon/_migrations.ts";
import { migrate, schemaVersion } from "../../lib/sqlite_schema.ts";
import { randomSecret } from "../../protocol/_crypto.ts";
import { clientIdFromPublicKey, formatId } from "../../protocol/identity.ts";
import { waitFor } from "../harness.ts";
import { cli, startDaemonProcess } from "../daemon_harness.ts";
import { withReader } from "./_at_rest.ts";

/** The newest schema version (the migrations run past 3 to it). */
const LATEST = daemonMigrations(new Sealer(randomSecret())).at(-1)!.version;

const newId = () => formatId(clientIdFromPublicKey(randomSecret()));
const ME = newId(), OTHER_ME = newId();
const code = (e: Error) => e instanceof ServiceError ? e.code : e.message;

Deno.test("names: one key for the case forms of a name, in every script, the same in every locale", () => {
  const same = [
    ["Frank", "frank", "FRANK", "fRaNk"],
    ["Straße", "STRASSE", "strasse", "STRAẞE"], // full folding: ß and ẞ are ss
    ["Σίσυφος", "ΣΊΣΥΦΟΣ", "σίσυφοσ"], // final sigma is sigma
    ["Ǆemal", "ǆemal", "ǅemal"], // a title-case digraph
    ["ﬁsh", "FISH"], // a ligature folds to its letters
    ["Ĳssel", "ĳssel"],
    ["Émile", "E\u0301mile", "émile"], // composed or not
  ];
  for (const group of same) {
    for (const n of group) assertEquals(nameKey(n), nameKey(group[0]!), `${n} ~ ${group[0]}`);
  }
  const apart = [
    ["frank", "frank2"],
    ["ı", "i"], // dotless i is a letter of its own (full folding keeps it apart)
    ["Ｆrank", "Frank"], // fullwidth: a compatibility form, not a case
    ["аlice", "alice"], // Cyrillic а
    ["strase", "straße"],
  ];
  for (const [a, b] of apart) assertOk(nameKey(a!) !== nameKey(b!), `${a} apart from ${b}`);
  assertEquals(nameKey("İstanbul"), "i\u0307stanbul", "İ folds to i and a dot, not by locale");
});

async function contacts(): Promise<{ c: Contacts; store: Store }> {
  const dir = await Deno.makeTempDir({ prefix: "schied-names-" });
  const sealer = new Sealer(randomSecret());
  const store = new Store(openDb(dir, sealer), sealer);
  return { c: new Contacts(store, { idText: ME } as Self), store };
}

Deno.test("contacts: names keep their case, are found in any case, and are unique without it", async () => {
  const { c, store } = await contacts();
  const [frank, other, stranger] = [newId(), newId(), newId()];
  await store.write(() => c.add(frank, "Frank"));
  for (const n of ["Frank", "frank", "FRANK", "fRANK"]) assertEquals(c.resolve(n), frank, n);
  assertEquals(c.get(frank)!.name, "Frank", "shown as typed");

  // Another id cannot take the name in any case; the message names the holder's spelling.
  for (const n of ["frank", "FRANK", "Frank"]) {
    const e = assertThrows(() => c.add(other, n));
    assertEquals(code(e), "name_taken", n);
    if (n !== "Frank") assertOk(e.message.includes('"Frank" is the same name'), e.message);
  }
  await store.write(() => c.add(other, "Straße"));
  assertEquals(code(assertThrows(() => c.add(stranger, "STRASSE"))), "name_taken");
  assertEquals(c.resolve("strasse"), other);

  // A request accepted under a taken name is refused too (acceptRequest is add on a request).
  await store.write(() => c.request(stranger));
  assertEquals(code(assertThrows(() => c.add(stranger, "FRANK"))), "name_taken");
  assertEquals(c.kindOf(stranger), "request", "still a request");
  await store.write(() => c.add(stranger, "Sam"));
  assertEquals(c.resolve("SAM"), stranger);

  // A contact may change the case of its own name.
  await store.write(() => c.add(frank, "FRANK"));
  assertEquals([c.get(frank)!.name, c.resolve("frank")], ["FRANK", frank]);
  assertEquals(code(assertThrows(() => c.add(frank, "FRANK"))), "contact_exists");

  // verify, rm and block go through the same lookup.
  assertEquals(code(assertThrows(() => c.verify("frank", true))), "bad_request", "no key yet");
  assertEquals(await store.write(() => c.verify("fRaNk", false).id), frank);
  assertEquals(await store.write(() => c.remove("frank")), frank);
  assertEquals(code(assertThrows(() => c.resolve("Frank"))), "recipient_unknown");
  await store.write(() => c.add(newId(), "frank")); // the name is free again
  store.db.close();
});

/** A database at version 2 (as the previous release left it) with `rows` in contacts. */
function v2With(sealer: Sealer, rows: [me: string, id: string, name: string, at: number][]) {
  const db = new DatabaseSync(":memory:");
  migrate(db, daemonMigrations(sealer).slice(0, 2), "daemon.db");
  const ins = db.prepare(
    "INSERT INTO contacts (me, id, kind, name, name_idx, added_at) VALUES (?, ?, 'contact', ?, ?, ?)",
  );
  // Version 2's index: of the name as typed (so `Frank` and `frank` could both be there).
  for (const [me, id, name, at] of rows) {
    ins.run(me, id, sealer.sealText(name, SEALED.name, `${me}/${id}`), sealer.index(name), at);
  }
  return db;
}

function namesOf(db: DatabaseSync, s: Sealer): Record<string, string> {
  const out: Record<string, string> = {};
  for (
    const r of db.prepare("SELECT me, id, name, name_idx FROM contacts").all() as {
      me: string;
      id: string;
      name: Uint8Array;
      name_idx: Uint8Array;
    }[]
  ) {
    const name = s.openText(r.name, SEALED.name, `${r.me}/${r.id}`);
    assertEquals([...r.name_idx], [...s.index(nameKey(name))], `${name}: the caseless index`);
    out[`${r.me === ME ? "" : "other:"}${r.id}`] = name;
  }
  return out;
}

Deno.test("migration 3: caseless indexes; names that now collide are renamed, the first added keeping its own", () => {
  const s = new Sealer(randomSecret());
  const ids = Array.from({ length: 9 }, newId);
  const long = "L" + "o".repeat(63); // 64: the longest name
  const db = v2With(s, [
    [ME, ids[0]!, "frank", 20],
    [ME, ids[1]!, "Frank", 10], // added first: keeps its name
    [ME, ids[2]!, "FRANK", 30],
    [ME, ids[3]!, "frank-2", 40], // no collision: keeps its name, so the renames skip it
    [ME, ids[4]!, "Straße", 50],
    [ME, ids[5]!, "STRASSE", 60],
    [ME, ids[6]!, long, 70],
    [ME, ids[7]!, long.toUpperCase(), 80],
    [OTHER_ME, ids[8]!, "frank", 5], // another identity's names are its own
  ]);
  const renamed: Renamed[] = [];
  assertEquals(migrate(db, daemonMigrations(s, renamed), "daemon.db"), { from: 2, to: LATEST });
  assertEquals(schemaVersion(db), LATEST);
  const cut = long.toUpperCase().slice(0, 62) + "-2";
  assertEquals(namesOf(db, s), {
    [ids[0]!]: "frank-3",
    [ids[1]!]: "Frank",
    [ids[2]!]: "FRANK-4",
    [ids[3]!]: "frank-2",
    [ids[4]!]: "Straße",
    [ids[5]!]: "STRASSE-2",
    [ids[6]!]: long,
    [ids[7]!]: cut,
    [`other:${ids[8]!}`]: "frank",
  });
  assertEquals(cut.length, 64);
  // In the order they were added, each with its old and new name.
  assertEquals(renamed, [
    { me: ME, id: ids[0]!, from: "frank", to: "frank-3" },
    { me: ME, id: ids[2]!, from: "FRANK", to: "FRANK-4" },
    { me: ME, id: ids[5]!, from: "STRASSE", to: "STRASSE-2" },
    { me: ME, id: ids[7]!, from: long.toUpperCase(), to: cut },
  ]);
  // Uniqueness holds from now on, in the database itself.
  assertThrows(() =>
    db.prepare("UPDATE contacts SET name_idx = ? WHERE me = ? AND id = ?")
      .run(s.index(nameKey("FRANK")), ME, ids[4]!)
  );
  db.close();
});

Deno.test("migration 3: from the unversioned release (plaintext names, case-sensitive) to caseless names in one step", () => {
  const s = new Sealer(randomSecret());
  const db = new DatabaseSync(":memory:");
  migrate(db, daemonMigrations(s).slice(0, 1), "daemon.db");
  const [a, b] = [newId(), newId()];
  const ins = db.prepare("INSERT INTO contacts (me, id, name, added_at) VALUES (?, ?, ?, ?)");
  ins.run(ME, a, "bob", 2);
  ins.run(ME, b, "Bob", 1);
  const renamed: Renamed[] = [];
  assertEquals(migrate(db, daemonMigrations(s, renamed), "daemon.db"), { from: 1, to: LATEST });
  assertEquals(namesOf(db, s), { [a]: "bob-2", [b]: "Bob" });
  assertEquals(renamed.map((r) => [r.id, r.to]), [[a, "bob-2"]]);
  db.close();
});

Deno.test("migration 3 in a real daemon: a state dir with colliding names starts, the renamed ids logged (no names), contacts intact", async () => {
  const dir = `${await Deno.makeTempDir({ prefix: "schied-names-daemon-" })}/state`;
  const init = await cli(["init", "--state-dir", dir]);
  assertEquals(init.code, 0, init.stderr);
  const { keys } = await Keystore.open(dir);
  const me = formatId(keys.current.id);
  const [first, second] = [newId(), newId()];
  const s = new Sealer(keys.dataKey);
  const db = new DatabaseSync(`${dir}/${DB_FILE}`);
  migrate(db, daemonMigrations(s).slice(0, 2), DB_FILE);
  const ins = db.prepare(
    "INSERT INTO contacts (me, id, kind, name, name_idx, added_at) VALUES (?, ?, 'contact', ?, ?, ?)",
  );
  for (const [id, name, at] of [[first, "Frank", 1], [second, "frank", 2]] as const) {
    ins.run(me, id, s.sealText(name, SEALED.name, `${me}/${id}`), s.index(name), at);
  }
  db.close();
  await Deno.chmod(`${dir}/${DB_FILE}`, 0o600);

  const d = await startDaemonProcess({ stateDir: dir });
  try {
    await waitFor(() => d.log.some((l) => l.includes(`contact ${second}: renamed`)), "logged");
    const lines = d.log.filter((l) => l.includes("renamed"));
    assertEquals(lines.length, 1, d.log.join("\n"));
    assertOk(!/frank/i.test(lines.join("\n")), `no names in the log: ${lines}`);
    assertOk(
      d.log.some((l) => /^schied: hint: see 'schied contacts ls'/.test(l)),
      d.log.join("\n"),
    );
    const cs = await d.api.contacts();
    assertEquals(cs.map((c) => [c.id, c.name]), [[first, "Frank"], [second, "frank-2"]]);
    assertEquals((await d.api.messages({ with: "FRANK-2" })).length, 0, "found in any case");
  } finally {
    assertEquals(await d.stop(), 0);
  }
  assertEquals(withReader(`${dir}/${DB_FILE}`, (db) => schemaVersion(db)), LATEST);
});
