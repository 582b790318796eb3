/**
 * `schied init`: creates the state dir and a new identity (without starting the daemon).
 *
 * @module
 */
import { ensurePrivateDir, ensurePrivateFile, writeFileAtomic } from "../lib/private_fs.ts";
import { RELAY_ADDRESS_FILE } from "../daemon/state_dir.ts";
import { Keystore, KeystoreError } from "../daemon/keystore.ts";
import { DB_FILE, openDb, setSetting } from "../daemon/db.ts";
import { parseRelayAddress } from "../protocol/address.ts";
import { formatId } from "../protocol/identity.ts";
import { GLOBAL_HELP, parseVerb, printHelp, stateDirOf } from "./_context.ts";
import { flagOrEnv } from "./_flags.ts";
import { CliError, EXIT, usage } from "./_output.ts";

/** Help of the verb. */
export const HELP = `Usage: schied init [--relay ADDRESS]

Creates the daemon's state dir (mode 0700) and a new identity (0600), and prints its id.
With SCHIED_PASSPHRASE set, the identity is sealed with it (scrypt + AES-256-GCM).
An existing identity is kept: init then only prints its id.

Flags:
  --relay ADDRESS   remember this relay address (SCHIED_RELAY)

${GLOBAL_HELP}`;

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseVerb(args, { relay: { type: "string" } });
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
  await ensurePrivateDir(dir);
  const existed = await Keystore.exists(dir);
  const { keys } = await Keystore.open(dir, { passphrase: env("SCHIED_PASSPHRASE"), create: true })
    .catch((e) => {
      const locked = e instanceof KeystoreError &&
        (e.code === "locked" || e.code === "bad_passphrase");
      throw new CliError(
        (e as Error).message,
        locked ? EXIT.auth : EXIT.error,
        locked
          ? "set SCHIED_PASSPHRASE to the identity's passphrase"
          : "restore identity.json or move it away",
      );
    });
  if (relay !== undefined) {
    await ensurePrivateFile(`${dir}/${DB_FILE}`);
    const db = openDb(dir);
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
