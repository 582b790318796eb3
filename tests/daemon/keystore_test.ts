/**
 * The daemon's keystore (identity.json): file modes, reopening, rotation, retired identities,
 * sealing with a passphrase (scrypt + AES-256-GCM), and refusal of unsafe or corrupt files.
 *
 * @module
 */
import { assertEquals, assertOk, assertRejects } from "../_assert.ts";
import { IDENTITY_FILE, Keystore, KeystoreError } from "../../daemon/keystore.ts";
import { ensurePrivateDir } from "../../lib/private_fs.ts";
import { toBase64Url, toHex } from "../../protocol/bytes.ts";
import { formatId } from "../../protocol/identity.ts";

/** A fresh state dir (0700) inside a temp dir. */
async function stateDir(): Promise<string> {
  const dir = `${await Deno.makeTempDir({ prefix: "schied-keystore-" })}/state`;
  await ensurePrivateDir(dir);
  return dir;
}

const isCode = (code: KeystoreError["code"]) => (e: Error) =>
  e instanceof KeystoreError && e.code === code;

/** Every encoding of `bytes` a careless writer might have used. */
function encodings(bytes: Uint8Array): string[] {
  return [toBase64Url(bytes), btoa(String.fromCharCode(...bytes)).replace(/=+$/, ""), toHex(bytes)];
}

Deno.test("keystore: a fresh identity.json is 0600 in a 0700 dir, and reopening gives the same id", async () => {
  const dir = await stateDir();
  assertEquals(await Keystore.exists(dir), false);
  const first = await Keystore.open(dir, { create: true });
  assertOk(first.created, "created on first open");
  assertEquals((await Deno.stat(dir)).mode! & 0o777, 0o700);
  assertEquals((await Deno.stat(`${dir}/${IDENTITY_FILE}`)).mode! & 0o777, 0o600);
  assertEquals(await Keystore.exists(dir), true);
  // No temp file is left next to it.
  const names = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  assertEquals(names, [IDENTITY_FILE]);

  const again = await Keystore.open(dir);
  assertEquals(again.created, false);
  assertEquals(formatId(again.keys.current.id), formatId(first.keys.current.id));
  assertEquals(again.keys.current.signing.publicKey, first.keys.current.signing.publicKey);
  assertEquals(again.keys.current.linkKey.publicKey, first.keys.current.linkKey.publicKey);
  assertEquals(again.keys.current.e2eKey.publicKey, first.keys.current.e2eKey.publicKey);
  assertEquals(again.keys.retired, []);
});

Deno.test("keystore: opening an empty dir without create is refused", async () => {
  const dir = await stateDir();
  await assertRejects(() => Keystore.open(dir), isCode("corrupt"));
  assertEquals(await Keystore.exists(dir), false);
});

Deno.test("keystore: two fresh identities differ", async () => {
  const a = await Keystore.open(await stateDir(), { create: true });
  const b = await Keystore.open(await stateDir(), { create: true });
  assertOk(formatId(a.keys.current.id) !== formatId(b.keys.current.id));
});

Deno.test("keystore: rotate keeps the old identity as retired; removeRetired drops it", async () => {
  const dir = await stateDir();
  const { store, keys } = await Keystore.open(dir, { create: true });
  const oldId = formatId(keys.current.id);
  const rotated = await store.rotate();
  const newId = formatId(rotated.current.id);
  assertOk(newId !== oldId, "a new id");
  assertEquals(rotated.retired.map((r) => formatId(r.id)), [oldId]);
  assertEquals((await Deno.stat(`${dir}/${IDENTITY_FILE}`)).mode! & 0o777, 0o600);

  // Persisted: a reopen sees the same current and retired identities.
  const reopened = await Keystore.open(dir);
  assertEquals(formatId(reopened.keys.current.id), newId);
  assertEquals(reopened.keys.retired.map((r) => formatId(r.id)), [oldId]);
  assertEquals(reopened.keys.retired[0]!.signing.seed, keys.current.signing.seed);

  // A second rotation puts the newest retired first.
  const twice = await reopened.store.rotate();
  assertEquals(twice.retired.map((r) => formatId(r.id)), [newId, oldId]);

  assertEquals(await reopened.store.removeRetired(oldId.toUpperCase()), true);
  assertEquals(await reopened.store.removeRetired(oldId), false, "already removed");
  assertEquals(await reopened.store.removeRetired(formatId(twice.current.id)), false, "current");
  const last = await Keystore.open(dir);
  assertEquals(last.keys.retired.map((r) => formatId(r.id)), [newId]);
  assertEquals(formatId(last.keys.current.id), formatId(twice.current.id));
});

Deno.test("keystore: a sealed identity never holds a secret in clear and needs its passphrase", async () => {
  const dir = await stateDir();
  const pass = "correct horse battery staple";
  const { store, keys } = await Keystore.open(dir, { passphrase: pass, create: true });
  const path = `${dir}/${IDENTITY_FILE}`;
  const check = async (seeds: Uint8Array[]) => {
    const text = await Deno.readTextFile(path);
    const j = JSON.parse(text);
    assertEquals(Object.keys(j).sort(), ["sealed", "version"]);
    assertEquals(j.sealed.kdf, "scrypt");
    assertOk(!text.includes("seed") && !text.includes("created"), "no plaintext field names");
    for (const seed of seeds) {
      for (const enc of encodings(seed)) assertOk(!text.includes(enc), `seed in clear: ${enc}`);
    }
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o600);
  };
  await check([keys.current.signing.seed]);

  const opened = await Keystore.open(dir, { passphrase: pass });
  assertEquals(formatId(opened.keys.current.id), formatId(keys.current.id));
  assertEquals(opened.keys.current.signing.seed, keys.current.signing.seed);

  await assertRejects(() => Keystore.open(dir), isCode("locked"), "no passphrase");
  await assertRejects(() => Keystore.open(dir, { passphrase: "" }), isCode("locked"), "empty");
  await assertRejects(
    () => Keystore.open(dir, { passphrase: "wrong horse" }),
    isCode("bad_passphrase"),
  );

  // Rotating a sealed store keeps it sealed, with a fresh salt.
  const before = JSON.parse(await Deno.readTextFile(path)).sealed.salt;
  const rotated = await store.rotate();
  await check([rotated.current.signing.seed, keys.current.signing.seed]);
  assertOk(JSON.parse(await Deno.readTextFile(path)).sealed.salt !== before, "a new salt");
  const after = await Keystore.open(dir, { passphrase: pass });
  assertEquals(formatId(after.keys.current.id), formatId(rotated.current.id));
});

Deno.test("keystore: a tampered sealed file is refused", async () => {
  const dir = await stateDir();
  await Keystore.open(dir, { passphrase: "pw", create: true });
  const path = `${dir}/${IDENTITY_FILE}`;
  const j = JSON.parse(await Deno.readTextFile(path));
  const ct: string = j.sealed.ct;
  j.sealed.ct = (ct[0] === "A" ? "B" : "A") + ct.slice(1);
  await Deno.writeTextFile(path, JSON.stringify(j), { mode: 0o600 });
  await assertRejects(() => Keystore.open(dir, { passphrase: "pw" }), isCode("bad_passphrase"));
});

Deno.test("keystore: an identity.json readable by group or others is refused", async () => {
  const dir = await stateDir();
  const { keys } = await Keystore.open(dir, { create: true });
  const path = `${dir}/${IDENTITY_FILE}`;
  for (const mode of [0o640, 0o604, 0o644, 0o660, 0o606]) {
    await Deno.chmod(path, mode);
    await assertRejects(
      () => Keystore.open(dir),
      (e) => /readable by others/.test(e.message) && /chmod 600/.test(e.message),
      `mode ${mode.toString(8)}`,
    );
  }
  await Deno.chmod(path, 0o600);
  assertEquals(formatId((await Keystore.open(dir)).keys.current.id), formatId(keys.current.id));
});

Deno.test("keystore: a corrupt identity.json gives the code corrupt", async () => {
  const dir = await stateDir();
  const path = `${dir}/${IDENTITY_FILE}`;
  const good = { seed: "A".repeat(43), link: "A".repeat(43), e2e: "A".repeat(43), created: "x" };
  const bad = [
    "",
    "not json",
    "{",
    "null",
    "42",
    '"text"',
    "[]",
    "{}",
    JSON.stringify({ version: 3, current: good, retired: [] }),
    JSON.stringify({ version: 2, current: good, retired: [], dataKey: "AAAA" }),
    JSON.stringify({ version: 1, retired: [] }),
    JSON.stringify({ version: 1, current: { ...good, seed: "AAAA" }, retired: [] }),
    JSON.stringify({ version: 1, current: good }),
    JSON.stringify({ version: 1, sealed: null }),
    JSON.stringify({ version: 1, sealed: { kdf: "scrypt" } }),
  ];
  for (const text of bad) {
    await Deno.writeTextFile(path, text, { mode: 0o600 });
    await assertRejects(
      () => Keystore.open(dir, { passphrase: text.includes("sealed") ? "pw" : undefined }),
      isCode("corrupt"),
      `content ${JSON.stringify(text)}`,
    );
  }
});
