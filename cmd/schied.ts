/**
 * The `schied` entry: parses the verb, dispatches to one file per verb, maps errors to exit
 * codes. The compiled binary and the tests run this same file.
 *
 * @module
 */
import { CliError, EXIT, printError, usage } from "./_output.ts";

const VERSION = "0.1.0";

const HELP = `Usage: schied <verb> [flags]

Secure relay chat. Verbs:
  relay      run the relay (the untrusted server)

Run 'schied <verb> --help' for a verb's flags.
Global flags: --help, --version.
`;

type Verb = (args: string[], env: (k: string) => string | undefined) => Promise<number>;

const VERBS: Record<string, () => Promise<{ run: Verb }>> = {
  relay: () => import("./relay.ts"),
};

/** Runs schied with `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const env = (k: string) => Deno.env.get(k);
  const idx = args.findIndex((a) => !a.startsWith("-"));
  if (idx < 0) {
    if (args.includes("--version")) {
      console.log(`schied ${VERSION}`);
      return EXIT.ok;
    }
    console.log(HELP);
    return args.includes("--help") || args.includes("-h") ? EXIT.ok : EXIT.usage;
  }
  const verb = args[idx]!;
  const rest = [...args.slice(0, idx), ...args.slice(idx + 1)];
  try {
    const load = VERBS[verb];
    if (!load) throw usage(`unknown verb "${verb}"`);
    return await (await load()).run(rest, env);
  } catch (e) {
    if (e instanceof CliError) {
      printError(e.message, e.hint);
      return e.exit;
    }
    const code = (e as { code?: string }).code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
      printError((e as Error).message, `run 'schied ${verb} --help' for usage`);
      return EXIT.usage;
    }
    printError(`unexpected: ${(e as Error).stack ?? e}`);
    return EXIT.error;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
