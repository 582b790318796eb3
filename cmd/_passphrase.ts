/**
 * Reads a passphrase from the terminal without echo.
 *
 * @module
 */

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
