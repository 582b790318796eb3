/**
 * `schied init`: creates the state dir and a new identity (without starting the daemon).
 *
 * @module
 */
import { ensurePrivateDir, ensurePrivateFile, writeFileAtomic } from "../lib/private_fs.ts";
import { RELAY_ADDRESS_FILE } from "../daemon/state_dir.ts";
import { Keystore, KeystoreError } from "../daemon/keystore.ts";
import { DB_FILE, openDb, setSetting } from "../daemon/db.ts";
import { lockStateDir, StateDirLocked } from "../daemon/lock.ts";
import { Sealer } from "../daemon/sealer.ts";
import { parseRelayAddress } from "../protocol/address.ts";
import { formatId } from "../protocol/identity.ts";
import { GLOBAL_HELP, parseVerb, printHelp, stateDirOf } from "./_context.ts";
import { flagOrEnv } from "./_flags.ts";
import { CliError, EXIT, usage } from "./_output.ts";
import { passphraseHelp, passphraseOf } from "./_passphrase.ts";

/** Help of the verb. */
export const HELP = `Usage: schied init [--relay ADDRESS]

Creates the daemon's state dir (mode 0700) and a new identity (0600), and prints its id.
With a passphrase, the identity and the key that seals the daemon's database are sealed with
it (scrypt N=2^17 + AES-256-GCM). An existing identity is kept: init then only prints its id.
Refused while a daemon uses the state dir.

Flags:
  --relay ADDRESS   remember this relay address (SCHIED_RELAY)
${passphraseHelp(20)}

${GLOBAL_HELP}`;

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseVerb(args, {
    relay: { type: "string" },
    "passphrase-file": { type: "string" },
  });
  if (values.help) return printHelp(HELP);
  if (positionals.length > 0) {
    throw usage(`schied init takes no arguments, got "${positionals[0]}"`);
  }
  const dir = stateDirOf(values, env);
  const relay = flagOrEnv(values, "relay", env);
  if (relay !== undefined) {
    try {
      parseRelayAddress(relay);
    } catch (e) {
      throw new CliError((e as Error).message, EXIT.usage);
    }
  }
  const passphrase = await passphraseOf(values, env);
  await ensurePrivateDir(dir);
  let lock;
  try {
    lock = lockStateDir(dir);
  } catch (e) {
    if (e instanceof StateDirLocked) {
      throw new CliError(e.message, EXIT.error, "init is for a dir no daemon uses");
    }
    throw e;
  }
  try {
    return await initLocked(dir, relay, passphrase);
  } finally {
    lock.release();
  }
}

async function initLocked(
  dir: string,
  relay: string | undefined,
  passphrase: string | undefined,
): Promise<number> {
  const existed = await Keystore.exists(dir);
  const { keys } = await Keystore.open(dir, { passphrase, create: true })
    .catch((e) => {
      const locked = e instanceof KeystoreError &&
        (e.code === "locked" || e.code === "bad_passphrase");
      throw new CliError(
        (e as Error).message,
        locked ? EXIT.auth : EXIT.error,
        locked
          ? "give the identity's passphrase with --passphrase-file (or SCHIED_PASSPHRASE)"
          : "restore identity.json or move it away",
      );
    });
  if (relay !== undefined) {
    await ensurePrivateFile(`${dir}/${DB_FILE}`);
    const db = openDb(dir, new Sealer(keys.dataKey));
    setSetting(db, "relay", relay);
    db.close();
    await writeFileAtomic(
      `${dir}/${RELAY_ADDRESS_FILE}`,
      new TextEncoder().encode(relay + "\n"),
      0o600,
    );
  }
  console.log(formatId(keys.current.id));
  if (existed) console.error(`schied: hint: ${dir} already had an identity; it is unchanged`);
  return EXIT.ok;
}
