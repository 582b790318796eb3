/**
 * `schied send <id|name> [text…]`: sends a message; with no text, each stdin line is one
 * message, or all of stdin with --whole.
 *
 * @module
 */
import { patiently } from "./_busy.ts";
import { TextLineStream } from "./_lines.ts";
import { connectApi, GLOBAL_HELP, parseVerb, printHelp, withApi } from "./_context.ts";
import { intFlag } from "./_flags.ts";
import { CliError, EXIT, printError, usage } from "./_output.ts";
import { DeliveryWaiter } from "./_wait.ts";
import { followFile, openFile, sendFileAt } from "./_files_send.ts";
import { followGroupFile } from "./_files_group.ts";

/** Help of the verb. */
export const HELP = `Usage: schied send <id|name> [text…] [--wait [--timeout S]]
       schied send <id|name> --file PATH [--wait [--timeout S]]

Sends a message end-to-end encrypted. The text is the remaining arguments joined by spaces; with
none, each line of stdin is one message (empty lines are skipped), or all of stdin is one with
--whole. Prints each accepted message's id. The message is durable once accepted; 'schied
listen' or GET /messages/ID show when it is delivered. To a group (its name or id, see 'schied
group'): one copy to each member; delivered once every member's daemon stored its copy (a
file: one transfer per member, each id printed). A busy daemon (a peer that takes messages
slower than they come) is asked again as its Retry-After says, for up to a minute.

  --whole       send all of stdin as one message
  --file PATH   send a file instead (up to the daemon's max-file-bytes, 256 MiB by default):
                copied into the daemon's store before its id is printed, then sent in
                encrypted chunks; a progress bar on stderr when it is a terminal; with
                --wait, returns once the peer has the whole file, verified
  --id KEY      an idempotency key: sending again with the same key does not send twice
  --wait        return once every message sent is delivered (stored by the peer's daemon);
                exit code 5 if one is not by --timeout, 1 if one failed
  --timeout S   how long --wait waits, in seconds (default 30)

${GLOBAL_HELP}

Examples:
  schied send alice "see you at 6"
  schied send alice --wait --timeout 10 "deploy done"
  schied send ops --file backup.log --wait
  echo hi | schied send 3f0c1d2e-…
  make 2>&1 | schied send bob --whole`;

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseVerb(args, {
    whole: { type: "boolean" },
    id: { type: "string" },
    wait: { type: "boolean" },
    timeout: { type: "string" },
    file: { type: "string" },
  });
  if (values.help) return printHelp(HELP);
  const [to, ...words] = positionals;
  if (!to) throw usage("schied send needs a recipient: schied send <id|name> [text…]");
  if (values.timeout !== undefined && !values.wait) throw usage("--timeout goes with --wait");
  const timeoutMs = (intFlag("timeout", values.timeout, 1, 86_400) ?? 30) * 1000;
  if (values.file !== undefined) {
    if (words.length > 0 || values.whole || values.id) {
      throw usage("--file sends a file: no text, --whole or --id with it");
    }
    const opened = await openFile(values.file);
    const api = await connectApi(values, env);
    const since = values.wait ? (await withApi(() => api.status())).last_event_id : 0;
    const bar = Deno.stderr.isTerminal();
    // One upload; to a group, the daemon makes one transfer per other member.
    const f = await sendFileAt(api, to, values.file, opened, bar);
    if ("files" in f) {
      return await followGroupFile(api, f, { wait: values.wait === true, since, timeoutMs, bar });
    }
    console.log(f.id);
    return values.wait ? await followFile(api, f, since, timeoutMs, bar) : EXIT.ok;
  }
  const api = await connectApi(values, env);
  // The journal position before the first send: every status of what follows comes after it.
  const waiter = values.wait
    ? new DeliveryWaiter(api, (await withApi(() => api.status())).last_event_id)
    : undefined;
  const send = async (text: string, key?: string) => {
    const r = await withApi(() =>
      patiently(() => api.send({ to, text, ...(key ? { id: key } : {}) }))
    );
    waiter?.track(r.id);
    console.log(r.id);
  };
  const done = () => waiter ? awaitDelivery(waiter, timeoutMs) : Promise.resolve(EXIT.ok);
  if (words.length > 0) {
    if (values.whole) throw usage("--whole reads stdin; do not pass text too");
    await send(words.join(" "), values.id);
    return await done();
  }
  if (values.whole) {
    const text = strictUtf8(new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer()));
    if (text.length === 0) throw usage("stdin was empty: nothing to send");
    await send(text.replace(/\n$/, ""), values.id);
    return await done();
  }
  if (values.id) throw usage("--id goes with a single message (text arguments or --whole)");
  let n = 0;
  // Strict: a byte that is not UTF-8 stops the input with an error (lines before it are sent)
  // rather than reaching the peer as U+FFFD.
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream("utf-8", { fatal: true }))
    .pipeThrough(new TextLineStream());
  try {
    for await (const line of lines) {
      if (line.length === 0) continue;
      await send(line);
      n++;
    }
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
    throw notUtf8(n > 0 ? `; the ${n} line(s) before it were sent` : "; nothing was sent");
  }
  if (n === 0) throw usage("stdin had no lines: nothing to send");
  return await done();
}

/** What to do about a message that failed, by its reason. */
const FAILED_HINTS: Record<string, string> = {
  peer_version: "the recipient runs an older schied (end-to-end version 1), which this release " +
    "does not speak: ask them to upgrade",
  recipient_unknown: "the relay does not know that id: check it ('schied contacts ls')",
};

/** --wait: the exit code once the sent messages settled (0 all delivered, 1 failed, 5 late). */
async function awaitDelivery(waiter: DeliveryWaiter, timeoutMs: number): Promise<number> {
  const r = await withApi(() => waiter.settle(timeoutMs));
  for (const f of r.failed) {
    printError(`message ${f.id} failed: ${f.reason || "unknown reason"}`, FAILED_HINTS[f.reason]);
  }
  if (r.failed.length > 0) return EXIT.error;
  if (r.pending.length > 0) {
    throw new CliError(
      `${r.pending.length} message(s) not delivered within ${timeoutMs / 1000} s`,
      EXIT.relay_offline,
      "they stay queued in the daemon and go out when the peer is reachable; " +
        "'schied status' shows the outbox",
    );
  }
  return EXIT.ok;
}

function notUtf8(what: string): CliError {
  return new CliError(
    `stdin is not valid UTF-8${what}`,
    EXIT.error,
    "convert it first, e.g. 'iconv -f latin1 -t utf-8'",
  );
}

/** Decodes all of stdin as strict UTF-8. */
function strictUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw notUtf8("; nothing was sent");
  }
}
