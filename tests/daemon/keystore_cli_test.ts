/**
 * The keystore through the CLI (scripts/schied): `schied init` seals the identity with
 * SCHIED_PASSPHRASE, `schied daemon` then needs it (exit 6 and a hint without it), and
 * `schied id` reads the id from the state dir when no daemon runs.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { cli, startDaemonProcess } from "../daemon_harness.ts";
import { IDENTITY_FILE } from "../../daemon/keystore.ts";

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PASS = "a long passphrase for the test";

async function tempStateDir(): Promise<string> {
  return `${await Deno.makeTempDir({ prefix: "schied-keystore-cli-" })}/state`;
}

/** `schied daemon` expected to fail at start (stdin is not a TTY, so it never prompts). */
function daemonFails(dir: string, env: Record<string, string> = {}) {
  return cli(["daemon", "--api", "127.0.0.1:0", "--state-dir", dir], { env });
}

Deno.test("cli: init seals with SCHIED_PASSPHRASE; the daemon needs it, exits 6 without it", async () => {
  const dir = await tempStateDir();
  const init = await cli(["init", "--state-dir", dir], { env: { SCHIED_PASSPHRASE: PASS } });
  assertEquals(init.code, 0, init.stderr);
  const id = init.stdout.trim();
  assertOk(ID.test(id), `init prints the id: ${init.stdout}`);
  assertEquals((await Deno.stat(dir)).mode! & 0o777, 0o700);
  assertEquals((await Deno.stat(`${dir}/${IDENTITY_FILE}`)).mode! & 0o777, 0o600);
  const file = JSON.parse(await Deno.readTextFile(`${dir}/${IDENTITY_FILE}`));
  assertOk("sealed" in file && !("current" in file), "init sealed the identity");

  // Without the passphrase: exit 6 (authentication) with a hint, and no API token written.
  const locked = await daemonFails(dir);
  assertEquals(locked.code, 6, locked.stderr);
  assertOk(/^schied: error: .*passphrase/im.test(locked.stderr), locked.stderr);
  assertOk(/^schied: hint: .*SCHIED_PASSPHRASE/m.test(locked.stderr), locked.stderr);
  assertOk(!locked.stderr.includes("unexpected"), locked.stderr);
  // A wrong passphrase: exit 6 too.
  const wrong = await daemonFails(dir, { SCHIED_PASSPHRASE: "not it" });
  assertEquals(wrong.code, 6, wrong.stderr);
  assertOk(/^schied: error: wrong passphrase/im.test(wrong.stderr), wrong.stderr);

  // With it: the daemon starts with the identity init made.
  const d = await startDaemonProcess({ stateDir: dir, env: { SCHIED_PASSPHRASE: PASS } });
  try {
    assertEquals(d.id, id);
    assertEquals((await d.api.me()).id, id);
    // While it runs, `schied id` asks it, no passphrase needed.
    const viaApi = await cli(["id", "--state-dir", dir]);
    assertEquals(viaApi.code, 0, viaApi.stderr);
    assertEquals(viaApi.stdout.trim(), id);
  } finally {
    assertEquals(await d.stop(), 0);
  }
});

Deno.test("cli: schied id reads the id from the state dir when no daemon runs", async () => {
  const dir = await tempStateDir();
  const missing = await cli(["id", "--state-dir", dir]);
  assertEquals(missing.code, 1, missing.stderr);
  assertOk(/^schied: hint: run 'schied init'/m.test(missing.stderr), missing.stderr);

  const init = await cli(["init", "--state-dir", dir]);
  assertEquals(init.code, 0, init.stderr);
  const id = init.stdout.trim();
  const plain = await cli(["id", "--state-dir", dir]);
  assertEquals(plain.code, 0, plain.stderr);
  assertEquals(plain.stdout, `${id}\n`);
  const json = await cli(["id", "--json", "--state-dir", dir]);
  assertEquals(json.code, 0, json.stderr);
  // As /me shows it: a fingerprint of the key, no safety number (that belongs to a pair).
  const me = JSON.parse(json.stdout);
  assertEquals(Object.keys(me), ["id", "identity_key", "fingerprint", "retired"]);
  assertEquals([me.id, me.retired], [id, []]);
  assertOk(/^([0-9a-f]{4} ){7}[0-9a-f]{4}$/.test(me.fingerprint), me.fingerprint);

  // A second init keeps the identity and says so.
  const again = await cli(["init", "--state-dir", dir]);
  assertEquals(again.code, 0, again.stderr);
  assertEquals(again.stdout.trim(), id);
  assertOk(/^schied: hint: .*already had an identity/m.test(again.stderr), again.stderr);

  // The daemon ran and stopped: `schied id` falls back to the state dir (stale api-address).
  const d = await startDaemonProcess({ stateDir: dir });
  assertEquals(d.id, id);
  assertEquals(await d.stop(), 0);
  const after = await cli(["id", "--state-dir", dir]);
  assertEquals(after.code, 0, after.stderr);
  assertEquals(after.stdout.trim(), id);
});

Deno.test("cli: schied id on a sealed identity without a daemon needs the passphrase", async () => {
  const dir = await tempStateDir();
  const init = await cli(["init", "--state-dir", dir], { env: { SCHIED_PASSPHRASE: PASS } });
  assertEquals(init.code, 0, init.stderr);
  const id = init.stdout.trim();
  const withPass = await cli(["id", "--state-dir", dir], { env: { SCHIED_PASSPHRASE: PASS } });
  assertEquals(withPass.code, 0, withPass.stderr);
  assertEquals(withPass.stdout.trim(), id);
  const without = await cli(["id", "--state-dir", dir]);
  assertEquals(without.code, 6, without.stderr);
  assertOk(/^schied: hint: .*SCHIED_PASSPHRASE/m.test(without.stderr), without.stderr);
  assertEquals(without.stdout, "");
});

Deno.test("cli: a corrupt or group-readable identity is an error (exit 1), not a passphrase problem", async () => {
  const dir = await tempStateDir();
  const init = await cli(["init", "--state-dir", dir]);
  assertEquals(init.code, 0, init.stderr);
  const path = `${dir}/${IDENTITY_FILE}`;

  await Deno.chmod(path, 0o644);
  const open = await cli(["id", "--state-dir", dir]);
  assertEquals(open.code, 1, open.stderr);
  assertOk(/^schied: error: .*readable by others.*chmod 600/m.test(open.stderr), open.stderr);
  const openDaemon = await daemonFails(dir);
  assertEquals(openDaemon.code, 1, openDaemon.stderr);
  assertOk(/readable by others/.test(openDaemon.stderr), openDaemon.stderr);

  await Deno.chmod(path, 0o600);
  await Deno.writeTextFile(path, "null\n");
  const corrupt = await cli(["id", "--state-dir", dir]);
  assertEquals(corrupt.code, 1, corrupt.stderr);
  assertOk(/^schied: error: .*malformed/m.test(corrupt.stderr), corrupt.stderr);
  assertOk(!/SCHIED_PASSPHRASE/.test(corrupt.stderr), corrupt.stderr);
  const corruptDaemon = await daemonFails(dir);
  assertEquals(corruptDaemon.code, 1, corruptDaemon.stderr);
  assertOk(/^schied: error: .*malformed/m.test(corruptDaemon.stderr), corruptDaemon.stderr);
  assertOk(!/SCHIED_PASSPHRASE/.test(corruptDaemon.stderr), corruptDaemon.stderr);
});
