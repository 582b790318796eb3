/**
 * `schied config`: where each setting comes from — its environment variable or the config file —
 * and the file's path. Flags are per command; the verbs' defaults apply to what is unset.
 *
 * @module
 */
import { configPath, loadConfig, SETTINGS } from "./_config.ts";
import { GLOBAL_HELP, parseVerb, printHelp } from "./_context.ts";
import { envName } from "./_flags.ts";
import { escapeText, EXIT, usage } from "./_output.ts";

/** Help of the verb. */
export const HELP = `Usage: schied config [--json]

Shows the settings that come from the environment or the config file, and the file's path.
A setting is a flag that is not about one command (the relay address, the API address, the log
format, …). Each has a SCHIED_* variable (log-format: SCHIED_LOG_FORMAT; booleans 1/0) and
a key in the config file; a flag wins over the variable, the variable over the file, and the
file over the default.

The file is $XDG_CONFIG_HOME/schied/config.json (~/.config/schied/config.json), or the path in
SCHIED_CONFIG: one JSON object, for example
  {"version": 1, "relay": "ws://relay.example:8765/#KEY", "api": "127.0.0.1:7771"}
Unknown keys and wrong types are errors. Keys: ${Object.keys(SETTINGS).join(", ")}.

  --json   the same as JSON: {"path", "exists", "settings": {KEY: {"value", "source"}}}

${GLOBAL_HELP}`;

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseVerb(args, { json: { type: "boolean" } }, env);
  if (values.help) return printHelp(HELP);
  if (positionals.length > 0) {
    throw usage(`schied config takes no arguments, got "${positionals[0]}"`);
  }
  const path = configPath(env);
  const exists = await Deno.stat(path).then(() => true, () => false);
  const file = loadConfig(env);
  const settings: Record<string, { value: unknown; source: string }> = {};
  for (const key of Object.keys(SETTINGS)) {
    const e = env(envName(key));
    if (e !== undefined) settings[key] = { value: e, source: `env ${envName(key)}` };
    else if (file[key] !== undefined) settings[key] = { value: file[key], source: "file" };
  }
  if (values.json) {
    console.log(JSON.stringify({ path, exists, settings }));
    return EXIT.ok;
  }
  console.log(`config file  ${escapeText(path)}${exists ? "" : "  (none)"}`);
  const keys = Object.keys(settings);
  if (keys.length === 0) console.log("no settings from the environment or the file: defaults");
  const width = Math.max(0, ...keys.map((k) => k.length));
  for (const k of keys) {
    const { value, source } = settings[k]!;
    const shown = typeof value === "string" ? value : JSON.stringify(value);
    console.log(`${k.padEnd(width)}  ${escapeText(shown)}  (${source})`);
  }
  return EXIT.ok;
}
