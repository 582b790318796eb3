/**
 * `schied id`: prints this daemon's client_id; `--rotate` makes a new identity.
 *
 * @module
 */
import { type KeyFile, Keystore } from "../daemon/keystore.ts";
import { lockStateDir, StateDirLocked } from "../daemon/lock.ts";
import { fingerprint, formatId } from "../protocol/mod.ts";
import { toBase64Url } from "../protocol/bytes.ts";
import { connectApi, GLOBAL_HELP, parseVerb, printHelp, stateDirOf, withApi } from "./_context.ts";
import { CliError, EXIT, usage } from "./_output.ts";
import { keystoreError, PASSPHRASE_HINT, passphraseHelp, passphraseOf } from "./_passphrase.ts";

/** Help of the verb. */
export const HELP = `Usage: schied id [--rotate | --remove ID] [--json]

Prints this daemon's client_id (a UUID derived from its identity key; give it to people who
should reach you). Works without a running daemon too; so does --rotate (it then takes the
state dir's lock, as the daemon does, and your contacts are told when the daemon next starts).

There is no safety number of your own: a safety number belongs to a pair, and both of you
see the same one ('schied contacts ls --json', 'schied contacts verify'). The fingerprint is a
digest of your key alone, for recognising it; it matches nothing the other side shows.

  --rotate      make a new identity (a new id) and send each contact a statement signed by
                the old and the new key, which moves you, your history and their queued
                messages to the new id; the old identity is kept, listed as retired
  --remove ID   delete a retired identity for good (its keys are gone afterwards)
  --json        print id, identity key, fingerprint and retired ids as JSON
${passphraseHelp(16)}

${GLOBAL_HELP}`;

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseVerb(args, {
    rotate: { type: "boolean" },
    remove: { type: "string" },
    json: { type: "boolean" },
    "passphrase-file": { type: "string" },
  });
  if (values.help) return printHelp(HELP);
  if (positionals.length > 0) throw usage(`schied id takes no arguments, got "${positionals[0]}"`);
  if (values.remove !== undefined) {
    const api = await connectApi(values, env);
    const me = await withApi(() => api.removeRetired(values.remove!));
    console.log(values.json ? JSON.stringify(me) : me.id);
    return EXIT.ok;
  }
  if (values.rotate) {
    const api = await connectApi(values, env).catch(() => undefined);
    const alive = api ? await api.health().then(() => true, () => false) : false;
    if (!alive) {
      const passphrase = await passphraseOf(values, env);
      return await rotateOffline(stateDirOf(values, env), passphrase, !!values.json);
    }
    const me = await withApi(() => api!.rotate());
    console.log(values.json ? JSON.stringify(me) : me.id);
    return EXIT.ok;
  }
  const api = await connectApi(values, env).catch(() => undefined);
  const me = api ? await api.me().catch(() => undefined) : undefined;
  if (me) {
    console.log(values.json ? JSON.stringify(me) : me.id);
    return EXIT.ok;
  }
  // No daemon: read the identity from the state dir (the id is public).
  const dir = stateDirOf(values, env);
  if (!(await Keystore.exists(dir))) {
    throw new CliError(`no identity in ${dir}`, EXIT.error, "run 'schied init' or 'schied daemon'");
  }
  const passphrase = await passphraseOf(values, env);
  const { keys } = await Keystore.open(dir, { passphrase }).catch((e) => {
    throw keystoreError(e, `start the daemon, or ${PASSPHRASE_HINT}`) ?? e;
  });
  const id = formatId(keys.current.id);
  console.log(values.json ? JSON.stringify(offlineMe(keys)) : id);
  return EXIT.ok;
}

/** What /me shows, from the keystore (no relay: that is the daemon's to know). */
function offlineMe(keys: KeyFile) {
  const key = keys.current.signing.publicKey;
  return {
    id: formatId(keys.current.id),
    identity_key: toBase64Url(key),
    fingerprint: fingerprint(key),
    retired: keys.retired.map((r) => ({
      id: formatId(r.id),
      identity_key: toBase64Url(r.signing.publicKey),
    })),
  };
}

/** `--rotate` with no daemon running: under the state dir's lock, in the keystore itself. */
async function rotateOffline(
  dir: string,
  passphrase: string | undefined,
  json: boolean,
): Promise<number> {
  if (!(await Keystore.exists(dir))) {
    throw new CliError(`no identity in ${dir}`, EXIT.error, "run 'schied init' or 'schied daemon'");
  }
  let lock;
  try {
    lock = lockStateDir(dir);
  } catch (e) {
    if (e instanceof StateDirLocked) {
      throw new CliError(
        `${e.message}, and its API did not answer`,
        EXIT.daemon_unreachable,
        "wait for it to start, or stop it",
      );
    }
    throw e;
  }
  try {
    const { store } = await Keystore.open(dir, { passphrase }).catch((e) => {
      throw keystoreError(e) ?? e;
    });
    const keys = await store.rotate();
    console.log(json ? JSON.stringify(offlineMe(keys)) : formatId(keys.current.id));
    return EXIT.ok;
  } finally {
    lock.release();
  }
}
