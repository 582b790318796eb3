/**
 * The `schied` entry: parses the verb, dispatches to one file per verb, maps errors to exit
 * codes. The compiled binary and the tests run this same file.
 *
 * @module
 */
import { CliError, EXIT, printError, usage } from "./_output.ts";

const VERSION = "0.1.0";

const HELP = `Usage: schied <verb> [flags]

Secure relay chat: end-to-end encrypted messages through an untrusted relay.

Verbs:
  relay      run the relay (the untrusted server)
  daemon     run the daemon (your keys, the relay session, the local API on 127.0.0.1:7777)
  init       create the state dir and an identity
  id         print your client_id (--rotate: make a new identity)
  send       send a message: schied send <id|name|group> [text…]   (no text: stdin lines;
             --file PATH: a file)
  cancel     cancel a message not yet delivered: schied cancel <message-id>
  listen     print incoming messages as they arrive (--json, --exec CMD)
  chat       chat interactively with one peer or a group
  history    the conversation with a peer, printed once (--since 10m, --limit N, --json)
  contacts   add, ls, rm, verify, block contacts
  requests   message requests from ids that are not contacts (accept, decline)
  files      files sent and received (ls, get, accept, rm)
  group      groups: create, add, rm, ls, name, leave (send and chat take a group's name)
  status     the daemon's relay state and outbox
  config     where settings come from: SCHIED_* variables and the config file
  completions  print a shell completion script: schied completions bash|zsh|fish

Run 'schied <verb> --help' for a verb's flags.
Global flags: --state-dir DIR, --api HOST:PORT, --help, --version.
Exit codes: 0 ok, 1 error, 2 usage, 3 daemon unreachable, 4 unknown recipient,
5 relay offline / not delivered, 6 authentication (token or passphrase), 130 interrupted.
`;

const GLOBAL_VALUE_FLAGS = new Set(["--state-dir", "--api"]);

type Verb = (args: string[], env: (k: string) => string | undefined) => Promise<number>;

const VERBS: Record<string, () => Promise<{ run: Verb }>> = {
  relay: () => import("./relay.ts"),
  daemon: () => import("./daemon.ts"),
  init: () => import("./init.ts"),
  id: () => import("./id.ts"),
  send: () => import("./send.ts"),
  cancel: () => import("./cancel.ts"),
  listen: () => import("./listen.ts"),
  chat: () => import("./chat.ts"),
  history: () => import("./history.ts"),
  contacts: () => import("./contacts.ts"),
  requests: () => import("./requests.ts"),
  files: () => import("./files.ts"),
  group: () => import("./group.ts"),
  status: () => import("./status.ts"),
  config: () => import("./config.ts"),
  completions: () => import("./completions.ts"),
};

/** Runs schied with `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const env = (k: string) => Deno.env.get(k);
  // The verb is the first argument that is neither a flag nor a global flag's value.
  let idx = -1;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (GLOBAL_VALUE_FLAGS.has(a)) i++;
    else if (!a.startsWith("-")) {
      idx = i;
      break;
    }
  }
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
      printError(parseArgsMessage((e as Error).message), `run 'schied ${verb} --help' for usage`);
      return EXIT.usage;
    }
    printError(`unexpected: ${(e as Error).stack ?? e}`);
    return EXIT.error;
  }
}

/**
 * node:util parseArgs' message as one line of ours: its messages run over several lines, and
 * its "ambiguous" one (a flag followed by a value that starts with "-") says what to write.
 */
export function parseArgsMessage(message: string): string {
  const ambiguous = /^Option '(-[\w-]+)(?: <value>)?' argument is ambiguous/.exec(message);
  if (ambiguous) {
    const flag = ambiguous[1];
    return `${flag} needs a value; a value that starts with "-" is written ${flag}=-VALUE`;
  }
  const unknown = /^Unknown option '(-[^']+)'/.exec(message);
  if (unknown) return `unknown flag ${unknown[1]}`;
  return message.split("\n").map((l) => l.trim()).filter((l) => l).join(" ");
}

if (import.meta.main) Deno.exit(await main(Deno.args));
