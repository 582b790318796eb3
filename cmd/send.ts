/**
 * `schied send <id|name> [text…]`: sends a message; with no text, each stdin line is one
 * message, or all of stdin with --whole.
 *
 * @module
 */
import { TextLineStream } from "./_lines.ts";
import { connectApi, GLOBAL_HELP, parseVerb, printHelp, withApi } from "./_context.ts";
import { EXIT, usage } from "./_output.ts";

/** Help of the verb. */
export const HELP = `Usage: schied send <id|name> [text…]

Sends a message end-to-end encrypted. The text is the remaining arguments joined by spaces; with
none, each line of stdin is one message (empty lines are skipped), or all of stdin is one with
--whole. Prints each accepted message's id. The message is durable once accepted; 'schied
listen' or GET /messages/ID show when it is delivered.

  --whole     send all of stdin as one message
  --id KEY    an idempotency key: sending again with the same key does not send twice

${GLOBAL_HELP}

Examples:
  schied send alice "see you at 6"
  echo hi | schied send 3f0c1d2e-…
  make 2>&1 | schied send bob --whole`;

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseVerb(args, {
    whole: { type: "boolean" },
    id: { type: "string" },
  });
  if (values.help) return printHelp(HELP);
  const [to, ...words] = positionals;
  if (!to) throw usage("schied send needs a recipient: schied send <id|name> [text…]");
  const api = await connectApi(values, env);
  const send = async (text: string, key?: string) => {
    const r = await withApi(() => api.send({ to, text, ...(key ? { id: key } : {}) }));
    console.log(r.id);
  };
  if (words.length > 0) {
    if (values.whole) throw usage("--whole reads stdin; do not pass text too");
    await send(words.join(" "), values.id);
    return EXIT.ok;
  }
  if (values.whole) {
    const text = await new Response(Deno.stdin.readable).text();
    if (text.length === 0) throw usage("stdin was empty: nothing to send");
    await send(text.replace(/\n$/, ""), values.id);
    return EXIT.ok;
  }
  if (values.id) throw usage("--id goes with a single message (text arguments or --whole)");
  let n = 0;
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TextLineStream(),
  );
  for await (const line of lines) {
    if (line.length === 0) continue;
    await send(line);
    n++;
  }
  if (n === 0) throw usage("stdin had no lines: nothing to send");
  return EXIT.ok;
}
