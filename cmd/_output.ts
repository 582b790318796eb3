/**
 * CLI output: `schied: error: …` and `schied: hint: …` on stderr, exit codes in one table,
 * and escaping of untrusted text so a message can never fake CLI output.
 *
 * @module
 */

/** Every exit code schied uses, documented in the README. */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  daemon_unreachable: 3,
  recipient_unknown: 4,
  relay_offline: 5,
  auth: 6,
  interrupted: 130,
} as const;

/** A CLI failure with its exit code and an optional hint. */
export class CliError extends Error {
  /** Makes an error that main() prints and exits with. */
  constructor(message: string, readonly exit: number = EXIT.error, readonly hint?: string) {
    super(message);
    this.name = "CliError";
  }
}

/** A usage error (exit 2). */
export function usage(message: string, hint?: string): CliError {
  return new CliError(message, EXIT.usage, hint ?? "run 'schied --help' for usage");
}

/** Prints an error (and hint) the schied way. */
export function printError(message: string, hint?: string): void {
  console.error(`schied: error: ${escapeText(message)}`);
  if (hint) console.error(`schied: hint: ${escapeText(hint)}`);
}

/**
 * Escapes control characters (C0, DEL, C1, and bidi overrides) so untrusted text cannot move the
 * cursor, clear the screen or pose as schied's own output. Newlines become `\n`.
 *
 * @example
 * ```ts
 * escapeText("hi\x1b[2J"); // "hi\\x1b[2J"
 * ```
 */
export function escapeText(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\t") return "\\t";
    const n = c.charCodeAt(0);
    return n < 0x100
      ? `\\x${n.toString(16).padStart(2, "0")}`
      : `\\u${n.toString(16).padStart(4, "0")}`;
  });
}
