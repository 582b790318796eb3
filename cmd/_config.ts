/**
 * Settings: a flag, else its `SCHIED_*` environment variable, else the config file
 * (`$XDG_CONFIG_HOME/schied/config.json`, or `SCHIED_CONFIG`), else the verb's default.
 *
 * The file is one flat JSON object of settings by flag name, with a format version:
 * `{"version": 1, "relay": "ws://…/#KEY", "api": "127.0.0.1:7771", "log-format": "json"}`.
 * Several relays are one comma-separated string, as in `SCHIED_RELAY`:
 * `"relay": "ws://a:8765/#KEY1,ws://b:8765/#KEY2"`.
 * Flat and strictly checked (unknown keys, wrong types and nested values are errors, not ignored)
 * because the launcher (scripts/schied) reads the network and file settings from it too, to
 * grant exactly those permissions, and it must read the same file the same way.
 *
 * Flags that belong to one invocation (`--id`, `--since`, `--wait`, …) are not settings: an
 * idempotency key left in the environment would make every send the same message.
 *
 * @module
 */
import { envName } from "./_flags.ts";
import { CliError, EXIT } from "./_output.ts";

/** The config file's format version. */
export const CONFIG_VERSION = 1;

/** How a setting's value is typed. */
export type SettingKind = "string" | "int" | "bool" | "list";

/** Every setting a flag of some verb has, with its kind (the file's keys). */
export const SETTINGS: Readonly<Record<string, SettingKind>> = {
  "state-dir": "string",
  api: "string",
  relay: "string",
  "passphrase-file": "string",
  "log-format": "string",
  "give-up": "int",
  "journal-retention": "int",
  "max-file-bytes": "int",
  "file-quota": "int",
  "allow-origin": "list",
  "api-non-loopback": "bool",
  host: "string",
  port: "int",
  "public-host": "string",
  cert: "string",
  key: "string",
  "metrics-listen": "string",
  "closed-registration": "bool",
  cluster: "string",
  "node-name": "string",
  "log-ips": "bool",
  quiet: "bool",
  history: "int",
  json: "bool",
  all: "bool",
  // The relay's limits (cmd/relay.ts LIMIT_FLAGS), all whole numbers.
  ...Object.fromEntries(
    ("max-envelope handshakes-per-ip handshake-burst max-pending-handshakes " +
      "max-pending-handshakes-per-ip frames-per-second frame-burst bytes-per-second max-sessions " +
      "max-sessions-per-ip max-connections-per-ip handshake-timeout-ms head-timeout-ms " +
      "idle-timeout max-queue-bytes max-total-queue-bytes slow-reader-timeout-ms max-watches " +
      "rekey-after rekey-after-bytes key-lookups-per-ip").split(" ").map((f) => [f, "int"]),
  ),
};

/**
 * Repeatable flags whose variable (and file value) is one comma-separated string that the verb
 * splits itself: `relay`, where an empty address in the list is an error, not dropped.
 */
const VERB_LISTS = new Set(["relay"]);

/** Where a setting came from. */
export type Source = "flag" | "env" | "file";

/** The config file's path for this environment. */
export function configPath(env: (k: string) => string | undefined): string {
  const explicit = env("SCHIED_CONFIG");
  if (explicit) return explicit;
  const base = env("XDG_CONFIG_HOME") || `${env("HOME") ?? "."}/.config`;
  return `${base}/schied/config.json`;
}

function bad(path: string, what: string): CliError {
  return new CliError(
    `${path}: ${what}`,
    EXIT.usage,
    "fix or remove the file; see 'schied config --help'",
  );
}

/** Reads and checks the config file; an absent file is no settings. */
export function loadConfig(env: (k: string) => string | undefined): Record<string, unknown> {
  const path = configPath(env);
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return {};
    throw bad(path, `cannot read it: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw bad(path, `not valid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw bad(path, "must be a JSON object of settings");
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) {
    if (k === "version") {
      if (v !== CONFIG_VERSION) {
        throw bad(path, `"version" must be ${CONFIG_VERSION}, got ${JSON.stringify(v)}`);
      }
      continue;
    }
    const kind = SETTINGS[k];
    if (!kind) throw bad(path, `unknown setting "${k.slice(0, 40)}"`);
    const ok = kind === "bool"
      ? typeof v === "boolean"
      : kind === "int"
      ? Number.isSafeInteger(v) && (v as number) >= 0
      : kind === "list"
      ? Array.isArray(v) && v.every((x) => typeof x === "string")
      : typeof v === "string";
    if (!ok) throw bad(path, `"${k}" must be ${KIND_WORDS[kind]}`);
    // No quote, backslash or newline in any value: the launcher's reading (a match of
    // `"key": "value"`) cannot then be misled by an escaped quote inside another value.
    if ([v].flat().some((x) => typeof x === "string" && /["\\\n]/.test(x))) {
      throw bad(path, `"${k}" must not contain quotes, backslashes or newlines`);
    }
    out[k] = kind === "int" ? String(v) : v;
  }
  return out;
}

const KIND_WORDS: Record<SettingKind, string> = {
  string: "a string",
  int: "a whole number",
  bool: "true or false",
  list: "a list of strings",
};

/** Parses a boolean environment variable (1/true/yes/on, 0/false/no/off). */
export function envBool(name: string, text: string): boolean {
  const t = text.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(t)) return true;
  if (["0", "false", "no", "off", ""].includes(t)) return false;
  throw new CliError(
    `${name} must be 1/true/yes or 0/false/no, got "${text.slice(0, 40)}"`,
    EXIT.usage,
  );
}

/**
 * Fills the settings a verb has (`options`) that no flag set, from the environment, then the
 * config file; returns where each one came from.
 */
export function applySettings(
  values: Record<string, unknown>,
  options: Record<string, { type: string; multiple?: boolean }>,
  env: (k: string) => string | undefined,
): Map<string, Source> {
  const sources = new Map<string, Source>();
  let file: Record<string, unknown> | undefined;
  for (const [name, o] of Object.entries(options)) {
    const kind = SETTINGS[name];
    if (!kind) continue;
    if (values[name] !== undefined) {
      sources.set(name, "flag");
      continue;
    }
    const e = env(envName(name));
    if (e !== undefined) {
      values[name] = o.type === "boolean"
        ? envBool(envName(name), e)
        : o.multiple && !VERB_LISTS.has(name)
        ? e.split(",").map((x) => x.trim()).filter(Boolean)
        : e;
      sources.set(name, "env");
      continue;
    }
    file ??= loadConfig(env);
    if (file[name] !== undefined) {
      values[name] = file[name];
      sources.set(name, "file");
    }
  }
  return sources;
}
