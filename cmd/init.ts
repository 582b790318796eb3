/**
 * `schied init`: creates the state dir and a new identity (without starting the daemon). The
 * daemon does the work (initStateDir); this verb parses the flags and prints.
 *
 * @module
 */
import { initStateDir } from "../daemon/init.ts";
import { StateDirLocked } from "../daemon/lock.ts";
import { GLOBAL_HELP, parseVerb, printHelp, stateDirOf } from "./_context.ts";
import { flagOrEnv } from "./_flags.ts";
import { CliError, EXIT, usage } from "./_output.ts";
import { keystoreError, passphraseHelp, passphraseOf } from "./_passphrase.ts";

/** Help of the verb. */
export const HELP = `Usage: schied init [--relay ADDRESS]

Creates the daemon's state dir (mode 0700) and a new identity (0600), and prints its id.
With a passphrase, the identity and the key that seals the daemon's database are sealed with
it (scrypt N=2^17 + AES-256-GCM). An existing identity is kept: init then only prints its id.
Refused while a daemon uses the state dir.

Flags:
  --relay ADDRESS   remember this relay address, or a comma-separated list (SCHIED_RELAY)
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
  const passphrase = await passphraseOf(values, env);
  const { id, existed } = await initStateDir(dir, { relay, passphrase }).catch((e) => {
    if (e instanceof StateDirLocked) {
      throw new CliError(e.message, EXIT.error, "init is for a dir no daemon uses");
    }
    if (e instanceof TypeError && /relay address/i.test(e.message)) {
      throw new CliError(e.message, EXIT.usage);
    }
    throw keystoreError(e) ?? e;
  });
  console.log(id);
  if (existed) console.error(`schied: hint: ${dir} already had an identity; it is unchanged`);
  return EXIT.ok;
}
