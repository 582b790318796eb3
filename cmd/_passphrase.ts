/**
 * Where a passphrase comes from (a file, the environment, or the terminal, without echo), and the
 * one mapping of the identity file's failures (KeystoreError) to CLI errors for the verbs that
 * open it themselves (daemon, init, id): a passphrase problem is an authentication failure
 * (exit 6), a corrupt or readable-by-others file an error (exit 1), each with its hint.
 *
 * @module
 */
import { KeystoreError } from "../daemon/keystore.ts";
import { CliError, EXIT } from "./_output.ts";

/** Prompts on stderr and reads one line from a TTY stdin with echo off. */
export async function readPassphrase(prompt = "schied: passphrase: "): Promise<string> {
  if (!Deno.stdin.isTerminal()) return "";
  await Deno.stderr.write(new TextEncoder().encode(prompt));
  Deno.stdin.setRaw(true);
  const buf = new Uint8Array(1);
  const bytes: number[] = [];
  try {
    while (true) {
      const n = await Deno.stdin.read(buf);
      if (n === null || buf[0] === 13 || buf[0] === 10) break;
      if (buf[0] === 3) throw new Error("interrupted");
      if (buf[0] === 127 || buf[0] === 8) bytes.pop();
      else bytes.push(buf[0]!);
    }
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(new TextEncoder().encode("\n"));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** Help lines of the passphrase sources, with descriptions starting at column `col`. */
export function passphraseHelp(col: number): string {
  const pad = " ".repeat(col);
  const flag = "  --passphrase-file FILE";
  const head = flag.length < col ? flag.padEnd(col) : `${flag}\n${pad}`;
  return `${head}read the passphrase from FILE's first line
${pad}(SCHIED_PASSPHRASE_FILE); SCHIED_PASSPHRASE works too, but
${pad}the environment of a process can be read by its user`;
}

/**
 * The passphrase from `--passphrase-file`, `SCHIED_PASSPHRASE_FILE` or `SCHIED_PASSPHRASE`
 * (in that order), or undefined. A file's first line is the passphrase (a trailing newline is
 * not part of it). Throws CliError when the file cannot be read or is empty.
 */
export async function passphraseOf(
  values: Record<string, unknown>,
  env: (k: string) => string | undefined,
): Promise<string | undefined> {
  const file = (values["passphrase-file"] as string | undefined) ?? env("SCHIED_PASSPHRASE_FILE");
  if (file !== undefined) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (e) {
      throw new CliError(
        `cannot read the passphrase file: ${(e as Error).message}`,
        EXIT.error,
        "check the path given with --passphrase-file (or SCHIED_PASSPHRASE_FILE)",
      );
    }
    const line = text.split(/\r?\n/)[0]!;
    if (line === "") throw new CliError(`the passphrase file ${file} is empty`, EXIT.usage);
    return line;
  }
  const v = env("SCHIED_PASSPHRASE");
  return v === "" ? undefined : v;
}

/** The hint for a missing or wrong passphrase. */
export const PASSPHRASE_HINT =
  "give the identity's passphrase with --passphrase-file (or SCHIED_PASSPHRASE)";

/**
 * The CLI error of a failure to open the identity, or undefined when `e` is not one.
 * `passphraseHint` replaces the hint of a passphrase problem.
 *
 * @example
 * ```ts
 * const { keys } = await Keystore.open(dir, { passphrase }).catch((e) => {
 *   throw keystoreError(e) ?? e;
 * });
 * ```
 */
export function keystoreError(e: unknown, passphraseHint = PASSPHRASE_HINT): CliError | undefined {
  if (!(e instanceof KeystoreError)) return undefined;
  switch (e.code) {
    case "corrupt":
      return new CliError(
        e.message,
        EXIT.error,
        "restore identity.json from a backup, or move it away to start with a new identity",
      );
    case "insecure":
      return new CliError(e.message, EXIT.error, "check who could have read it, then chmod 600 it");
    case "locked":
    case "bad_passphrase":
      return new CliError(e.message, EXIT.auth, passphraseHint);
  }
}
