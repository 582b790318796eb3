/**
 * What every client verb shares: the global flags, finding the daemon's API and token in the
 * state dir, and turning API errors into `schied: error:` lines and exit codes.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { ApiClient, ApiError, type ClientErrorCode } from "../api/client.ts";
import { readToken } from "../api/token.ts";
import { defaultStateDir } from "../daemon/state_dir.ts";
import { API_ADDRESS_FILE } from "../daemon/state_dir.ts";
import { applySettings } from "./_config.ts";
import { flagOrEnv } from "./_flags.ts";
import { CliError, EXIT } from "./_output.ts";

/** Global options every verb accepts (before or after the verb). */
export const GLOBAL_OPTIONS = {
  "state-dir": { type: "string" },
  api: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** How a verb reconnects to a daemon that went away: 250 ms, doubling, at most 5 s. */
export const RECONNECT = { initialMs: 250, maxMs: 5000 };

/** Help text of the global flags. */
export const GLOBAL_HELP = `Global flags (before or after the verb):
  --state-dir DIR   the daemon's state dir (SCHIED_STATE_DIR; default $XDG_STATE_HOME/schied)
  --api HOST:PORT   the daemon's API address (SCHIED_API; default: the address the daemon
                    wrote into its state dir, else 127.0.0.1:7777)
  -h, --help        this help`;

/** The state dir from the flags, the env, or the default. */
export function stateDirOf(
  values: Record<string, unknown>,
  env: (k: string) => string | undefined,
): string {
  return flagOrEnv(values, "state-dir", env) ?? defaultStateDir(env);
}

/** Parses `HOST:PORT` (or `[::1]:PORT`) into a loopback base URL. */
export function apiBaseUrl(text: string): string {
  const m = /^(\[[0-9a-f:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) {
    throw new CliError(`--api must be HOST:PORT, got "${text}"`, EXIT.usage);
  }
  return `http://${m[1]}:${m[2]}`;
}

/** An API client for the daemon of this state dir. */
export async function connectApi(
  values: Record<string, unknown>,
  env: (k: string) => string | undefined,
): Promise<ApiClient> {
  const dir = stateDirOf(values, env);
  const api = flagOrEnv(values, "api", env);
  let baseUrl: string;
  if (api) baseUrl = apiBaseUrl(api);
  else {
    try {
      baseUrl = (await Deno.readTextFile(`${dir}/${API_ADDRESS_FILE}`)).trim();
    } catch {
      baseUrl = "http://127.0.0.1:7777";
    }
  }
  let token = env("SCHIED_API_TOKEN");
  if (!token) {
    try {
      token = await readToken(dir);
    } catch {
      throw new CliError(
        `no daemon has run with the state dir ${dir} (no api-token there)`,
        EXIT.daemon_unreachable,
        "start the daemon with 'schied daemon' (it writes the token), or pass --state-dir",
      );
    }
  }
  return new ApiClient({ baseUrl, token });
}

const EXIT_OF: Partial<Record<ClientErrorCode, [number, string | undefined]>> = {
  daemon_unreachable: [EXIT.daemon_unreachable, "start it with 'schied daemon --relay ADDRESS'"],
  recipient_unknown: [
    EXIT.recipient_unknown,
    "check the id, or add a name with 'schied contacts add ID NAME'",
  ],
  unauthorized: [EXIT.auth, "the token changed: is --state-dir the daemon's?"],
  name_taken: [EXIT.error, "names ignore case: choose another ('schied contacts ls' lists them)"],
  key_changed: [
    EXIT.error,
    "compare the safety number and run 'schied contacts verify NAME' " +
    "('--no' sends to the new key unverified)",
  ],
};

/** Runs `fn`, turning ApiErrors into CliErrors with an exit code and a hint. */
export async function withApi<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ApiError) {
      const [exit, hint] = EXIT_OF[e.code] ?? [EXIT.error, undefined];
      throw new CliError(e.message, exit, hint);
    }
    throw e;
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parses a verb's arguments strictly, with the global flags added; settings no flag gave are
 * filled from their SCHIED_* variable, then the config file (flag > environment > file).
 *
 * @example
 * ```ts
 * const { values, positionals } = parseVerb(args, { json: { type: "boolean" } });
 * ```
 */
export function parseVerb<O extends Options>(
  args: string[],
  options: O,
  env: (k: string) => string | undefined = (k) => Deno.env.get(k),
) {
  const all = { ...GLOBAL_OPTIONS, ...options } as typeof GLOBAL_OPTIONS & O;
  const parsed = parseArgs({ args, strict: true, allowPositionals: true, options: all });
  // Flags not given come from SCHIED_* variables, then the config file (cmd/_config.ts).
  const values = parsed.values as Record<string, unknown>;
  if (!values.help) applySettings(values, all, env);
  return parsed;
}

/** Prints a verb's help to stdout; returns exit code 0. */
export function printHelp(text: string): number {
  console.log(text);
  return EXIT.ok;
}
