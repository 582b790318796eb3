/**
 * `schied completions bash|zsh|fish`: prints a shell completion script for the verbs, their
 * subcommands and their flags. All three scripts come from one table, {@link COMPLETION_TABLE};
 * tests/scripts/completions_test.ts checks it against every verb's `--help`, so a flag added to
 * a verb without adding it here fails a test.
 *
 * @module
 */
import { GLOBAL_HELP, parseVerb, printHelp } from "./_context.ts";
import { EXIT, usage } from "./_output.ts";

/** Help of the verb. */
export const HELP = `Usage: schied completions <bash|zsh|fish>

Prints a completion script for schied's verbs, subcommands and flags. Load it from your shell's
startup file:

  bash   echo 'source <(schied completions bash)' >> ~/.bashrc
  zsh    echo 'source <(schied completions zsh)' >> ~/.zshrc     (after compinit)
  fish   schied completions fish > ~/.config/fish/completions/schied.fish

${GLOBAL_HELP}`;

/**
 * What a flag's value is: `dir`, `file` or `cmd` complete as such, `value` completes nothing
 * (or one of the flag's `choices`); a flag without `=` is a boolean.
 */
export type ValueKind = "dir" | "file" | "cmd" | "value";

/** One verb: a one-line description, its subcommands (or choices) and its own flags. */
export interface VerbEntry {
  /** Shown by zsh and fish next to the verb. */
  about: string;
  /** Words the first argument may be (contacts add, completions bash…). */
  subcommands?: string[];
  /**
   * Flags as `--name` (boolean), `--name=KIND` (takes a value; KIND empty: `value`) or
   * `--name=a|b` (takes one of these words).
   */
  flags: string;
  /** The global flags it takes, when not {@link GLOBAL_FLAGS}. */
  globals?: string;
}

/** The global flags, accepted by every verb (before or after it). */
export const GLOBAL_FLAGS = "--state-dir=dir --api= -h --help";

const RELAY_LIMITS = "max-envelope handshakes-per-ip handshake-burst max-pending-handshakes " +
  "max-pending-handshakes-per-ip frames-per-second frame-burst bytes-per-second max-sessions " +
  "max-sessions-per-ip max-connections-per-ip handshake-timeout-ms head-timeout-ms " +
  "idle-timeout max-queue-bytes max-total-queue-bytes slow-reader-timeout-ms max-watches " +
  "rekey-after rekey-after-bytes key-lookups-per-ip";

/** Every verb with its subcommands and flags: the one source of the completion scripts. */
export const COMPLETION_TABLE: Record<string, VerbEntry> = {
  relay: {
    about: "run the relay (the untrusted server)",
    globals: "--state-dir=dir -h --help",
    flags: "--host= --port= --cert=file --key=file --public-host= --metrics-listen= " +
      "--closed-registration --cluster= --node-name= --log-ips --quiet " +
      RELAY_LIMITS.split(" ").map((f) => `--${f}=`).join(" "),
  },
  daemon: {
    about: "run the daemon (your keys, the relay session, the local API)",
    flags: "--relay= --api-non-loopback --allow-origin= --give-up= --journal-retention= " +
      "--max-file-bytes= --file-quota= " +
      "--log-format=text|json " +
      "--passphrase-file=file",
  },
  init: { about: "create the state dir and an identity", flags: "--relay= --passphrase-file=file" },
  id: {
    about: "print your client_id",
    flags: "--rotate --remove= --json --passphrase-file=file",
  },
  send: { about: "send a message", flags: "--whole --id= --wait --timeout= --file=file" },
  cancel: { about: "cancel a message not yet delivered", flags: "--json" },
  listen: {
    about: "print incoming messages as they arrive",
    flags: "--json --all --since= --exec=cmd --save-dir=dir",
  },
  chat: { about: "chat interactively with one peer or a group", flags: "--history= --wait=" },
  history: {
    about: "print the conversation with a peer and exit",
    flags: "--since= --limit= --json",
  },
  contacts: {
    about: "add, ls, rm, verify, block contacts",
    subcommands: ["add", "ls", "rm", "verify", "block", "unblock", "blocked"],
    flags: "--json --no --qr --no-qr",
  },
  requests: {
    about: "message requests from ids that are not contacts",
    subcommands: ["ls", "accept", "decline"],
    flags: "--json",
  },
  files: {
    about: "files sent and received",
    subcommands: ["ls", "get", "accept", "rm"],
    flags: "--json -o=file --output=file",
  },
  group: {
    about: "groups: create, add, rm, ls, name, leave",
    subcommands: ["create", "add", "rm", "ls", "name", "leave"],
    flags: "--json --admin",
  },
  status: { about: "the daemon's relay state and outbox", flags: "--json" },
  config: { about: "where settings come from", flags: "--json" },
  completions: {
    about: "print a shell completion script",
    subcommands: ["bash", "zsh", "fish"],
    flags: "",
  },
};

/** A parsed flag: `--name` or `-n`, and the kind of its value (undefined: boolean). */
export interface Flag {
  /** The flag as typed, with its dashes. */
  name: string;
  /** Its value's kind; undefined for a boolean flag. */
  value?: ValueKind;
  /** The words its value may be, if it names them. */
  choices?: string[];
}

/** Parses a `flags` string of the table. */
export function parseFlags(spec: string): Flag[] {
  return spec.split(/\s+/).filter(Boolean).map((f) => {
    const eq = f.indexOf("=");
    if (eq < 0) return { name: f };
    const kind = f.slice(eq + 1);
    if (kind.includes("|")) {
      return { name: f.slice(0, eq), value: "value", choices: kind.split("|") };
    }
    return { name: f.slice(0, eq), value: (kind || "value") as ValueKind };
  });
}

/** A verb's flags, its own and the global ones. */
export function flagsOf(verb: string): Flag[] {
  const e = COMPLETION_TABLE[verb];
  return [...parseFlags(e?.flags ?? ""), ...parseFlags(e?.globals ?? GLOBAL_FLAGS)];
}

const TOP_FLAGS: Flag[] = [...parseFlags(GLOBAL_FLAGS), { name: "--version" }];
const verbs = () => Object.keys(COMPLETION_TABLE);
const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** The bash script: `complete -F _schied schied`, COMPREPLY from the table. */
export function bashScript(): string {
  const arms = verbs().map((v) => {
    const flags = flagsOf(v);
    const valued = flags.filter((f) => f.value).map((f) => f.name).join(" ");
    return `    ${v}) flags=${quote(flags.map((f) => f.name).join(" "))}` +
      ` valued=${quote(valued)} subs=${quote((COMPLETION_TABLE[v]!.subcommands ?? []).join(" "))}` +
      " ;;";
  });
  const kindArms = (["dir", "file", "cmd"] as const).map((kind) => {
    const cases = verbs().flatMap((v) =>
      flagsOf(v).filter((f) => f.value === kind).map((f) => `${v}:${f.name}`)
    );
    const gen = { dir: "-d", file: "-f", cmd: "-c" }[kind];
    const opt = kind === "cmd" ? "" : "compopt -o filenames 2>/dev/null; ";
    return cases.length === 0
      ? ""
      : `    ${
        [...new Set(cases)].join(" | ")
      }) ${opt}COMPREPLY=($(compgen ${gen} -- "$cur")); return ;;\n`;
  });
  const choiceArms = verbs().flatMap((v) =>
    flagsOf(v).filter((f) => f.choices).map((f) =>
      `    ${v}:${f.name}) COMPREPLY=($(compgen -W ${
        quote(f.choices!.join(" "))
      } -- "$cur")); return ;;\n`
    )
  ).join("");
  return `# schied completion for bash: source <(schied completions bash)
_schied() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local verb="" sub="" flags="" valued="" subs="" i w
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    if [[ -z $verb ]]; then
      case "$w" in
        ${TOP_FLAGS.filter((f) => f.value).map((f) => f.name).join(" | ")}) ((i++)) ;;
        -*) ;;
        *) verb=$w ;;
      esac
    elif [[ $w == -* ]]; then
      [[ " $valued " == *" $w "* ]] && ((i++))
    elif [[ -z $sub ]]; then
      sub=$w
    fi
    [[ -n $verb && -z $flags ]] && case "$verb" in
${arms.join("\n")}
    esac
  done
  COMPREPLY=()
  if [[ -z $verb ]]; then
    case "$prev" in
      --state-dir) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur")); return ;;
      --api) return ;;
    esac
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W ${quote(TOP_FLAGS.map((f) => f.name).join(" "))} -- "$cur"))
    else
      COMPREPLY=($(compgen -W ${quote(verbs().join(" "))} -- "$cur"))
    fi
    return
  fi
  case "$verb:$prev" in
${kindArms.join("")}${choiceArms}    *) [[ " $valued " == *" $prev "* ]] && return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif [[ -n $subs && -z $sub ]]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  fi
}
complete -F _schied schied
`;
}

const zshAction = (f: Flag) =>
  f.value === "dir"
    ? ":dir:_files -/"
    : f.value === "file"
    ? ":file:_files"
    : f.value === "cmd"
    ? ":command:_command_names -e"
    : f.choices
    ? `:value:(${f.choices.join(" ")})`
    : f.value
    ? ":value: "
    : "";

const zshSpec = (f: Flag) => quote(`${f.name}${zshAction(f)}`);

/** The zsh script: a `_schied` function for compdef, from the table. */
export function zshScript(): string {
  const arms = verbs().map((v) => {
    const subs = COMPLETION_TABLE[v]!.subcommands;
    const specs = flagsOf(v).map(zshSpec);
    if (subs) {
      specs.push(quote(`1:${v === "completions" ? "shell" : "subcommand"}:(${subs.join(" ")})`));
    }
    specs.push(quote("*:argument:_default"));
    return `    ${v}) _arguments -s \\\n        ${specs.join(" \\\n        ")} ;;`;
  });
  const described = verbs().map((v) =>
    quote(`${v}:${COMPLETION_TABLE[v]!.about.replaceAll(":", "\\:")}`)
  );
  return `#compdef schied
# schied completion for zsh: source <(schied completions zsh), after compinit
_schied() {
  local curcontext=$curcontext state line ret=1
  local -a verbs
  verbs=(
    ${described.join("\n    ")}
  )
  _arguments -C \\
    ${TOP_FLAGS.map(zshSpec).join(" \\\n    ")} \\
    '1:verb:->verb' \\
    '*::argument:->argument' && ret=0
  case $state in
    verb) _describe -t verbs verb verbs && ret=0 ;;
    argument)
      curcontext=\${curcontext%:*:*}:schied-$words[1]:
      case $words[1] in
${arms.join("\n")}
      esac ;;
  esac
  return ret
}
if [[ $funcstack[1] == _schied ]]; then _schied "$@"; else compdef _schied schied; fi
`;
}

const fishOpt = (f: Flag) => {
  const name = f.name.startsWith("--") ? `-l ${f.name.slice(2)}` : `-s ${f.name.slice(1)}`;
  const value = f.value === "dir"
    ? " -xa '(__fish_complete_directories)'"
    : f.value === "file"
    ? " -rF"
    : f.value === "cmd"
    ? " -xa '(__fish_complete_command)'"
    : f.choices
    ? ` -xa ${quote(f.choices.join(" "))}`
    : f.value
    ? " -x"
    : "";
  return name + value;
};

/** The fish script: one `complete` line per verb, subcommand and flag, from the table. */
export function fishScript(): string {
  const all = verbs().join(" ");
  const lines = [
    "# schied completion for fish: schied completions fish > ~/.config/fish/completions/schied.fish",
    "complete -c schied -e",
    "complete -c schied -f",
    ...TOP_FLAGS.map((f) =>
      `complete -c schied -n "not __fish_seen_subcommand_from ${all}" ${fishOpt(f)}`
    ),
  ];
  for (const v of verbs()) {
    const e = COMPLETION_TABLE[v]!;
    lines.push(
      `complete -c schied -n "not __fish_seen_subcommand_from ${all}" -a ${v} -d ${quote(e.about)}`,
    );
    const on = `-n "__fish_seen_subcommand_from ${v}"`;
    if (e.subcommands) {
      const subs = e.subcommands.join(" ");
      const first =
        `-n "__fish_seen_subcommand_from ${v}; and not __fish_seen_subcommand_from ${subs}"`;
      lines.push(`complete -c schied ${first} -a ${quote(subs)}`);
    }
    for (const f of flagsOf(v)) lines.push(`complete -c schied ${on} ${fishOpt(f)}`);
  }
  return lines.join("\n") + "\n";
}

const SCRIPTS: Record<string, () => string> = {
  bash: bashScript,
  zsh: zshScript,
  fish: fishScript,
};

/** Runs the verb. */
export function run(args: string[]): Promise<number> {
  const { values, positionals } = parseVerb(args, {});
  if (values.help) return Promise.resolve(printHelp(HELP));
  const shell = positionals[0];
  if (positionals.length !== 1 || !shell || !SCRIPTS[shell]) {
    throw usage(
      shell === undefined
        ? "schied completions needs a shell"
        : `no completions for "${positionals.join(" ")}"`,
      "run 'schied completions bash', 'zsh' or 'fish'",
    );
  }
  const bytes = new TextEncoder().encode(SCRIPTS[shell]!());
  for (let off = 0; off < bytes.length;) off += Deno.stdout.writeSync(bytes.subarray(off));
  return Promise.resolve(EXIT.ok);
}
