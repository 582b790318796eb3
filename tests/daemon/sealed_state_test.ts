/**
 * Issue 7, item 9: with a passphrase, nothing secret in the state dir is readable — message texts,
 * contact names, session chain keys, the data key, the identity seed — in any file (daemon.db,
 * its -wal and -shm, identity.json, everything), in any of the encodings a careless store could
 * use. The passphrase comes from --passphrase-file or SCHIED_PASSPHRASE_FILE; identity.json is
 * sealed with scrypt at N=2^17. Without a passphrase the columns are sealed all the same (defense
 * in depth: the key then sits next to the data, in identity.json).
 *
 * The previous release kept texts, names and session states in daemon.db in clear.
 *
 * @module
 */
import { assertEquals, assertOk, assertRejects } from "../_assert.ts";
import { startRelayProcess, waitFor } from "../harness.ts";
import { cli, startDaemonProcess, waitOnline } from "../daemon_harness.ts";
import { IDENTITY_FILE, Keystore, KeystoreError, SCRYPT } from "../../daemon/keystore.ts";
import { Sealer } from "../../daemon/sealer.ts";
import { parseRatchet } from "../../protocol/ratchet.ts";
import { SEALED } from "../../daemon/_migrations.ts";
import { toBase64Url, toHex, utf8 } from "../../protocol/bytes.ts";
import {
  contains,
  fileHash,
  findAll,
  type Form,
  formsOf,
  passphraseFile,
  stateFiles,
  textForms,
  withReader,
} from "./_at_rest.ts";

const hex = (n: number) => toHex(crypto.getRandomValues(new Uint8Array(n)));

/** `schied daemon` that is expected to fail at start (stdin is not a TTY: it never prompts). */
function daemonFails(dir: string, args: string[] = [], env: Record<string, string> = {}) {
  return cli(["daemon", "--api", "127.0.0.1:0", "--state-dir", dir, ...args], { env });
}

/** The secrets of a stopped daemon's state dir, read with its data key as the daemon would. */
async function secretsOf(dir: string, passphrase?: string) {
  const { keys } = await Keystore.open(dir, passphrase ? { passphrase } : {});
  const sealer = new Sealer(keys.dataKey);
  const chainKeys: Uint8Array[] = [];
  const sessionBlobs: Uint8Array[] = [];
  const texts: string[] = [];
  const names: string[] = [];
  withReader(`${dir}/daemon.db`, (db) => {
    for (
      const r of db.prepare("SELECT me, peer, sid, state FROM sessions").all() as {
        me: string;
        peer: string;
        sid: string;
        state: Uint8Array;
      }[]
    ) {
      sessionBlobs.push(r.state);
      const st = parseRatchet(
        sealer.open(r.state, SEALED.session, `${r.me}/${r.peer}/${r.sid}`),
      );
      // Every secret of the ratchet: root, chain and header keys, the DH private key, the
      // ML-KEM seed, skipped message keys.
      for (
        const k of [st.rk, st.cks, st.ckr, st.hks, st.hkr, st.nhks, st.nhkr, st.dhs, st.kemSeed]
      ) {
        if (k) chainKeys.push(k);
      }
      for (const c of st.skipped) for (const k of c.keys) chainKeys.push(k.mk);
    }
    for (
      const r of db.prepare("SELECT id, body FROM messages").all() as {
        id: string;
        body: Uint8Array;
      }[]
    ) texts.push(sealer.openText(r.body, SEALED.body, r.id));
    for (
      const r of db.prepare("SELECT me, id, name FROM contacts WHERE name IS NOT NULL").all() as {
        me: string;
        id: string;
        name: Uint8Array;
      }[]
    ) names.push(sealer.openText(r.name, SEALED.name, `${r.me}/${r.id}`));
  });
  return { keys, chainKeys, sessionBlobs, texts, names };
}

/**
 * Every sealed column of daemon.db holds sealed blobs (format byte 1), none in clear. The journal
 * seals the data of `message` and `request` events (texts, names); the other events (statuses,
 * presence, relay states: ids, numbers and codes) are kept as JSON, and the marker search of
 * the test shows that no text or name is in them.
 */
function assertColumnsSealed(dir: string): void {
  withReader(`${dir}/daemon.db`, (db) => {
    for (
      const [table, col, where] of [
        ["messages", "body", ""],
        ["events", "data", "AND type IN ('message', 'request')"],
        ["sessions", "state", ""],
        ["contacts", "name", ""],
      ]
    ) {
      const rows = db.prepare(
        `SELECT typeof(${col}) AS t, hex(substr(${col}, 1, 1)) AS f FROM ${table}
         WHERE ${col} IS NOT NULL ${where}`,
      ).all() as { t: string; f: string }[];
      assertOk(rows.length > 0, `${table}.${col} has rows`);
      for (const r of rows) {
        assertEquals({ ...r }, { t: "blob", f: "01" }, `${table}.${col} is sealed`);
      }
    }
  });
}

Deno.test("sealed state: after a real exchange no text, name, chain key or data key is in any file of the state dir", async () => {
  const relay = await startRelayProcess();
  const passA = `pass ${hex(8)}`;
  const fileA = await passphraseFile(passA);
  const a = await startDaemonProcess({ relay: relay.address, args: ["--passphrase-file", fileA] });
  const b = await startDaemonProcess({ relay: relay.address }); // no passphrase: (f)
  let stopped = false;
  try {
    await Promise.all([waitOnline(a), waitOnline(b)]);
    const nameOfB = `bob-${hex(12)}`, nameOfA = `alice-${hex(12)}`;
    await a.api.addContact({ id: b.id, name: nameOfB });
    await b.api.addContact({ id: a.id, name: nameOfA });
    const markers = [0, 1, 2, 3].map(() => `MARK${hex(12)}`);
    const toB = [`${markers[0]} hello bob`, `ünïcödé ${markers[1]} ✓ 🎉`, `${markers[2]}`];
    const toA = [`re: ${markers[3]} fine`];
    const sentA: { id: string }[] = [];
    for (const text of toB) sentA.push(await a.api.send({ to: nameOfB, text }));
    const sentB: { id: string }[] = [];
    for (const text of toA) sentB.push(await b.api.send({ to: nameOfA, text }));
    await waitFor(
      async () => {
        const ms = await Promise.all([
          ...sentA.map((m) => a.api.message(m.id)),
          ...sentB.map((m) => b.api.message(m.id)),
        ]);
        return ms.every((m) => m.status === "delivered");
      },
      "every message delivered",
      15_000,
    );
    const all = [...toB, ...toA].sort();
    assertEquals((await b.api.messages({ with: a.id })).map((m) => m.text).sort(), all);
    assertEquals((await a.api.messages({ with: b.id })).map((m) => m.text).sort(), all);

    // The files while the daemons run (the WAL and the shared index among them), searched below
    // together with the files left after a clean stop.
    const live = async (dir: string) =>
      (await stateFiles(dir)).map((f) => ({ ...f, name: `live ${f.name}` }));
    const liveA = await live(a.stateDir), liveB = await live(b.stateDir);
    for (const f of ["daemon.db", "daemon.db-wal", "daemon.db-shm", IDENTITY_FILE, "api-token"]) {
      assertOk(liveA.some((x) => x.name === `live ${f}`), `${f} is among the files searched`);
    }

    assertEquals(await a.stop(), 0);
    assertEquals(await b.stop(), 0);
    stopped = true;

    const sa = await secretsOf(a.stateDir, passA);
    const sb = await secretsOf(b.stateDir);
    // The store really holds the exchange (opened with the right key): the search has a target.
    assertEquals(sa.texts.sort(), all);
    assertEquals(sb.texts.sort(), all);
    assertEquals(sa.names, [nameOfB]);
    assertEquals(sb.names, [nameOfA]);
    assertOk(sa.chainKeys.length >= 2 && sb.chainKeys.length >= 2, "sessions on both sides");

    const filesA = [...liveA, ...await stateFiles(a.stateDir)];
    const filesB = [...liveB, ...await stateFiles(b.stateDir)];
    for (const f of ["daemon.db", IDENTITY_FILE, "api-token", "daemon.lock", "relay-address"]) {
      assertOk(filesA.some((x) => x.name === f), `${f} is among the files searched`);
    }
    // Positive controls: the sealed blobs themselves are found in daemon.db, and the search
    // finds an encoded key inside other text at every alignment.
    for (const blob of sa.sessionBlobs) {
      assertOk(
        filesA.some((f) => f.name.startsWith("daemon.db") && contains(f.bytes, blob)),
        "the sealed session blob is in A's database files",
      );
    }
    const key = sa.chainKeys[0]!;
    for (const pre of ["", "x", "xy", "xyz"]) {
      const hay = utf8.encode(`{"sendCk":"${pre}${toBase64Url(key)}","n":1}`);
      const hayB64 = utf8.encode(btoa(pre + String.fromCharCode(...key) + "tail"));
      const forms = formsOf(key, "k");
      assertOk(findAll([{ name: "hay", bytes: hay }], forms).length > 0, "base64url control");
      assertOk(findAll([{ name: "hay", bytes: hayB64 }], forms).length > 0, "base64 control");
    }

    const plain: Form[] = [
      ...[...toB, ...toA, ...markers, nameOfA, nameOfB].flatMap((t) => textForms(t)),
      ...[...sa.chainKeys, ...sb.chainKeys].flatMap((k, i) => formsOf(k, `chain key ${i}`)),
    ];
    // (a) With a passphrase: none of it, nor the data key, nor the identity seed, anywhere.
    const secretA: Form[] = [
      ...plain,
      ...formsOf(sa.keys.dataKey, "data key"),
      ...formsOf(sa.keys.current.signing.seed, "identity seed"),
    ];
    assertEquals(findAll(filesA, secretA), [], "secrets readable in A's sealed state dir");

    // (f) Without a passphrase: the columns are sealed blobs all the same; no text, name or key
    // in clear in any file. The data key is in identity.json (what the README says).
    assertColumnsSealed(a.stateDir);
    assertColumnsSealed(b.stateDir);
    assertEquals(findAll(filesB, plain), [], "plaintext in B's unsealed state dir");
    assertEquals(
      findAll(filesB, [{ label: "data key", bytes: utf8.encode(toBase64Url(sb.keys.dataKey)) }]),
      [`live ${IDENTITY_FILE}: data key`, `${IDENTITY_FILE}: data key`],
      "without a passphrase the data key is in identity.json, and only there",
    );

    // (c) identity.json is sealed with scrypt N=2^17 (r=8, p=1), version 2, nothing in clear.
    const fileJson = JSON.parse(await Deno.readTextFile(`${a.stateDir}/${IDENTITY_FILE}`));
    assertEquals(Object.keys(fileJson).sort(), ["sealed", "version"]);
    assertEquals(fileJson.version, 2);
    assertEquals(
      {
        kdf: fileJson.sealed.kdf,
        N: fileJson.sealed.N,
        r: fileJson.sealed.r,
        p: fileJson.sealed.p,
      },
      { kdf: "scrypt", N: 131072, r: 8, p: 1 },
    );
    assertEquals(SCRYPT.N, 2 ** 17);
    const plainJson = JSON.parse(await Deno.readTextFile(`${b.stateDir}/${IDENTITY_FILE}`));
    assertEquals(plainJson.version, 2);
    assertOk(!("sealed" in plainJson) && typeof plainJson.dataKey === "string");

    // (b) Without the passphrase the daemon refuses to start (exit 6), and so does the keystore;
    // a wrong one is told apart. Nothing is rewritten by the attempts.
    const before = await fileHash(`${a.stateDir}/${IDENTITY_FILE}`);
    const locked = await daemonFails(a.stateDir);
    assertEquals(locked.code, 6, locked.stderr);
    assertOk(/^schied: error: .*passphrase/im.test(locked.stderr), locked.stderr);
    const wrongFile = await passphraseFile("not the passphrase");
    const wrong = await daemonFails(a.stateDir, ["--passphrase-file", wrongFile]);
    assertEquals(wrong.code, 6, wrong.stderr);
    assertOk(/^schied: error: wrong passphrase/im.test(wrong.stderr), wrong.stderr);
    const e1 = await assertRejects(() => Keystore.open(a.stateDir));
    assertOk(e1 instanceof KeystoreError && e1.code === "locked", String(e1));
    const e2 = await assertRejects(() => Keystore.open(a.stateDir, { passphrase: "nope" }));
    assertOk(e2 instanceof KeystoreError && e2.code === "bad_passphrase", String(e2));
    assertEquals(await fileHash(`${a.stateDir}/${IDENTITY_FILE}`), before);
  } finally {
    if (!stopped) {
      a.kill();
      b.kill();
      await Promise.all([a.exited, b.exited]);
    }
    assertEquals(await relay.stop(), 0);
  }
});

Deno.test("sealed state: SCHIED_PASSPHRASE_FILE works like --passphrase-file; an unreadable file is a clear error", async () => {
  const dir = `${await Deno.makeTempDir({ prefix: "schied-sealed-" })}/state`;
  const pass = `pass ${hex(8)}`;
  const file = await passphraseFile(pass);
  const init = await cli(["init", "--state-dir", dir, "--passphrase-file", file]);
  assertEquals(init.code, 0, init.stderr);
  const id = init.stdout.trim();
  const sealed = JSON.parse(await Deno.readTextFile(`${dir}/${IDENTITY_FILE}`));
  assertEquals(sealed.sealed?.N, 131072, "init seals at N=2^17");

  // The file from the environment; it wins over a (wrong) SCHIED_PASSPHRASE.
  const d = await startDaemonProcess({
    stateDir: dir,
    env: { SCHIED_PASSPHRASE_FILE: file, SCHIED_PASSPHRASE: "not it" },
  });
  assertEquals(d.id, id);
  assertEquals((await d.api.me()).id, id);
  assertEquals(await d.stop(), 0);
  const token = await fileHash(`${dir}/api-token`);

  const missing = `${await Deno.makeTempDir()}/no-such-file`;
  for (
    const [args, env] of [
      [["--passphrase-file", missing], {}],
      [[], { SCHIED_PASSPHRASE_FILE: missing }],
      [["--passphrase-file", await Deno.makeTempDir()], {}], // a directory
    ] as [string[], Record<string, string>][]
  ) {
    const r = await daemonFails(dir, args, env);
    assertEquals(r.code, 1, r.stderr);
    assertOk(/^schied: error: cannot read the passphrase file/m.test(r.stderr), r.stderr);
    assertOk(/^schied: hint: .*--passphrase-file/m.test(r.stderr), r.stderr);
    assertOk(!/unexpected|at .*\.ts:\d+/.test(r.stderr), `no stack trace: ${r.stderr}`);
  }
  const empty = await passphraseFile("");
  await Deno.writeTextFile(empty, "");
  const e = await daemonFails(dir, ["--passphrase-file", empty]);
  assertEquals(e.code, 2, e.stderr);
  assertOk(/^schied: error: the passphrase file .* is empty/m.test(e.stderr), e.stderr);
  assertEquals(await fileHash(`${dir}/api-token`), token, "failed starts write no token");
});

Deno.test("sealed state: an unsealed state dir started with a passphrase becomes sealed, its data intact", async () => {
  const root = await Deno.makeTempDir({ prefix: "schied-sealed-" });
  const dir = `${root}/state`;
  const init = await cli(["init", "--state-dir", dir]);
  assertEquals(init.code, 0, init.stderr);
  const id = init.stdout.trim();
  const plainFile = JSON.parse(await Deno.readTextFile(`${dir}/${IDENTITY_FILE}`));
  assertOk(!("sealed" in plainFile) && typeof plainFile.dataKey === "string");
  const other = await cli(["init", "--state-dir", `${root}/other`]);
  assertEquals(other.code, 0, other.stderr);
  const friend = other.stdout.trim();

  // Unsealed, with no relay: a message stays queued in the (sealed-column) outbox.
  const marker = `MARK${hex(12)}`;
  const d1 = await startDaemonProcess({ stateDir: dir });
  await d1.api.addContact({ id: friend, name: "friend" });
  const m = await d1.api.send({ to: "friend", text: `queued ${marker}` });
  assertEquals(await d1.stop(), 0);

  const pass = `pass ${hex(8)}`;
  const file = await passphraseFile(pass);
  const d2 = await startDaemonProcess({ stateDir: dir, args: ["--passphrase-file", file] });
  try {
    assertEquals(d2.id, id);
    assertEquals((await d2.api.message(m.id)).text, `queued ${marker}`, "the db still opens");
    assertEquals((await d2.api.contacts()).map((c) => c.name), ["friend"]);
  } finally {
    assertEquals(await d2.stop(), 0);
  }
  const sealed = JSON.parse(await Deno.readTextFile(`${dir}/${IDENTITY_FILE}`));
  assertOk("sealed" in sealed && !("current" in sealed) && !("dataKey" in sealed), "sealed");
  assertEquals(sealed.sealed.N, 131072);
  const { keys } = await Keystore.open(dir, { passphrase: pass });
  assertEquals(toBase64Url(keys.dataKey), plainFile.dataKey, "the same data key, now sealed");
  const hits = findAll(await stateFiles(dir), [
    ...formsOf(keys.dataKey, "data key"),
    ...formsOf(keys.current.signing.seed, "seed"),
    ...textForms(marker),
  ]);
  assertEquals(hits, [], "nothing secret left in clear");
  const locked = await daemonFails(dir);
  assertEquals(locked.code, 6, locked.stderr);
  assertOk(/passphrase/i.test(locked.stderr), locked.stderr);
});
