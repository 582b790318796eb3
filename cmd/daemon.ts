/**
 * `schied daemon`: runs the daemon (keys, relay session, local API) until SIGINT/SIGTERM.
 *
 * @module
 */
import { parseRelayList } from "../daemon/relay_client.ts";
import { KeystoreError, startDaemon, StateDirLocked } from "../daemon/mod.ts";
import { SchemaTooNewError } from "../lib/sqlite_schema.ts";
import { parseVerb, printHelp, stateDirOf } from "./_context.ts";
import { flagOrEnv, intFlag } from "./_flags.ts";
import { untilSignal } from "./_signals.ts";
import { CliError, EXIT, usage } from "./_output.ts";
import { keystoreError, passphraseHelp, passphraseOf, readPassphrase } from "./_passphrase.ts";

/** Help of the verb. */
export const HELP = `Usage: schied daemon [--relay ADDRESS]... [flags]

Runs the daemon: holds the identity, keeps an authenticated session with the relay, and serves
the local API (REST + Server-Sent Events) on 127.0.0.1:7777. Creates the identity on first run.
Writes api-token and api-auth-header (for curl -H @file) into the state dir at every start.

Flags (each also as an environment variable, e.g. --relay ↔ SCHIED_RELAY):
  --relay ADDRESS           the relay address printed by 'schied relay'; remembered.
                            Repeatable, or a comma-separated list: several relays, in
                            order of preference; the daemon logs in to the first that
                            answers and fails over to the next when it goes away
  --api HOST:PORT           where the API listens: 127.0.0.1, localhost or [::1]
                            (default 127.0.0.1:7777)
  --api-non-loopback        allow --api on a non-loopback address: anyone who reaches it with
                            the token acts as you, over plain HTTP (trusted networks only)
  --allow-origin ORIGIN     an Origin allowed to call the API (repeatable; default none)
  --give-up SECONDS         undelivered messages fail after this long (default 604800, 7 days)
  --journal-retention N     events kept for resuming /events (default 100000)
  --max-file-bytes BYTES    the largest file sent or received (default 268435456, 256 MiB)
  --file-quota BYTES        bytes of files each peer may have on this disk (default
                            1073741824, 1 GiB); an offer beyond it is refused
  --log-format text|json    lifecycle lines on stderr (connecting, online, offline with the
                            reason, counts of messages) as text (default) or JSON Lines
  --state-dir DIR           the state dir (default $XDG_STATE_HOME/schied)
${passphraseHelp(28)}
  -h, --help                this help

With a passphrase, the identity and everything secret in the state dir (message texts, session
keys, contact names) is sealed with it; on a terminal you are asked when it is needed. One
daemon per state dir: a second one exits with an error.`;

/**
 * The relay list of --relay (repeated, each one address or a comma-separated list), of
 * SCHIED_RELAY or of the config file (a comma-separated string): one string, or undefined.
 */
function relayOf(given: unknown): string | undefined {
  if (given === undefined) return undefined;
  try {
    return parseRelayList(given as string | string[]).map((e) => e.text).join(",");
  } catch (e) {
    throw new CliError(
      (e as Error).message,
      EXIT.usage,
      "copy each address 'schied relay' printed; several relays: repeat --relay, or separate " +
        "the addresses with commas",
    );
  }
}

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseVerb(args, {
    relay: { type: "string", multiple: true },
    "allow-origin": { type: "string", multiple: true },
    "give-up": { type: "string" },
    "journal-retention": { type: "string" },
    "max-file-bytes": { type: "string" },
    "file-quota": { type: "string" },
    "api-non-loopback": { type: "boolean" },
    "passphrase-file": { type: "string" },
    "log-format": { type: "string" },
  });
  if (values.help) return printHelp(HELP);
  if (positionals.length > 0) {
    throw usage(`schied daemon takes no arguments, got "${positionals[0]}"`);
  }
  const relay = relayOf(values.relay);
  const apiText = flagOrEnv(values, "api", env) ?? "127.0.0.1:7777";
  const nonLoopback = values["api-non-loopback"] === true;
  const m =
    (nonLoopback
      ? /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/
      : /^(127\.0\.0\.1|localhost|\[::1\]):(\d{1,5})$/)
      .exec(apiText);
  if (!m || Number(m[2]) > 65535) {
    throw usage(
      nonLoopback
        ? `--api must be HOST:PORT, got "${apiText}"`
        : `--api must be a loopback HOST:PORT (127.0.0.1, localhost or [::1]), got "${apiText}"`,
      nonLoopback
        ? undefined
        : "to listen on another address, add --api-non-loopback (read its help first)",
    );
  }
  const giveUp = intFlag("give-up", flagOrEnv(values, "give-up", env), 1, 10 * 365 * 86400);
  const retention = intFlag(
    "journal-retention",
    flagOrEnv(values, "journal-retention", env),
    100,
    100_000_000,
  );
  const maxFile = intFlag("max-file-bytes", flagOrEnv(values, "max-file-bytes", env), 0, 2 ** 40);
  const quota = intFlag("file-quota", flagOrEnv(values, "file-quota", env), 0, 2 ** 50);
  const logFormat = flagOrEnv(values, "log-format", env) ?? "text";
  if (logFormat !== "text" && logFormat !== "json") {
    throw usage(`--log-format must be text or json, got "${logFormat}"`);
  }
  const stateDir = stateDirOf(values, env);
  const given = await passphraseOf(values, env);
  let d;
  for (let attempt = 0;; attempt++) {
    try {
      d = await startDaemon({
        stateDir,
        relay,
        apiHost: m[1]!.startsWith("[") ? m[1]!.slice(1, -1) : m[1]!,
        apiNonLoopback: nonLoopback,
        apiPort: Number(m[2]),
        passphrase: given ?? (attempt > 0 ? await readPassphrase() : undefined),
        originAllowlist: (values["allow-origin"] as string[] | undefined) ?? [],
        log: { write: (line) => console.error(line), format: logFormat },
        files: {
          ...(maxFile === undefined ? {} : { maxFileBytes: maxFile }),
          ...(quota === undefined ? {} : { quotaBytes: quota }),
        },
        engine: {
          ...(giveUp === undefined ? {} : { giveUpMs: giveUp * 1000 }),
          ...(retention === undefined ? {} : { journalRetention: retention }),
        },
      });
      break;
    } catch (e) {
      if (
        e instanceof KeystoreError && e.code === "locked" && attempt === 0 &&
        given === undefined && Deno.stdin.isTerminal()
      ) continue;
      if (e instanceof StateDirLocked) {
        throw new CliError(
          e.message,
          EXIT.error,
          "stop that daemon first, or give this one another --state-dir",
        );
      }
      if (e instanceof SchemaTooNewError) {
        throw new CliError(e.message, EXIT.error);
      }
      const keystore = keystoreError(e);
      if (keystore) throw keystore;
      if (e instanceof Deno.errors.AddrInUse) {
        throw new CliError(
          `the API port ${m[2]} is in use (is a daemon running already?)`,
          EXIT.error,
          "pass --api 127.0.0.1:PORT",
        );
      }
      if (e instanceof TypeError && /relay address/.test(e.message)) {
        throw new CliError(e.message, EXIT.usage);
      }
      throw e;
    }
  }
  console.log(`id ${d.id}`);
  console.log(`api ${d.apiUrl}`);
  console.log(`state ${stateDir}`);
  await untilSignal();
  await d.close();
  return EXIT.ok;
}
