/**
 * `schied listen`: prints incoming messages as they arrive; reconnects to the daemon by itself
 * and resumes from the last event it saw, so nothing is missed or printed twice.
 *
 * @module
 */
import type { ApiClient, EventData, JournalEvent } from "../api/client.ts";
import { connectApi, GLOBAL_HELP, parseVerb, printHelp, RECONNECT, withApi } from "./_context.ts";
import { intFlag } from "./_flags.ts";
import { messageLine, useColor } from "./_format.ts";
import { EXIT, printError, usage } from "./_output.ts";
import { Backoff } from "../lib/backoff.ts";
import { DaemonLink } from "./_reconnect.ts";

/** Help of the verb. */
export const HELP = `Usage: schied listen [--json] [--all] [--since ID] [--exec CMD]

Prints incoming messages to stdout as they arrive, one per line ("12:00:01 alice: hi"; control
characters escaped). Reconnects to the daemon by itself and resumes where it left off.

  --json        JSON Lines: {"id": EVENT_ID, "event": "message", "data": {...}} per message
  --all         every event (request, status, presence, relay, error), not only messages;
                without it, a message request is a one-line notice on stderr
  --since ID    start after event ID (0: from the oldest kept event); default: from now
  --exec CMD    run CMD (with sh -c) for each message, one at a time, with the message in
                SCHIED_FROM, SCHIED_FROM_NAME, SCHIED_TEXT, SCHIED_MESSAGE_ID, SCHIED_TS,
                SCHIED_EVENT_ID; its output goes to stderr

${GLOBAL_HELP}`;

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseVerb(args, {
    json: { type: "boolean" },
    all: { type: "boolean" },
    since: { type: "string" },
    exec: { type: "string" },
  });
  if (values.help) return printHelp(HELP);
  if (positionals.length > 0) {
    throw usage(`schied listen takes no arguments, got "${positionals[0]}"`);
  }
  const api = await connectApi(values, env);
  let since = intFlag("since", values.since, 0, Number.MAX_SAFE_INTEGER) ??
    (await withApi(() => api.status())).last_event_id;
  const color = useColor(env);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const handle = async (e: JournalEvent) => {
    if (e.type === "request" && !values.all && !values.json) {
      // Not a contact: a notice on stderr, never the text on stdout (a script reads stdout).
      console.error(`schied: message request from ${e.data.from} (see 'schied requests')`);
      return;
    }
    if (e.type !== "message" && !values.all) return;
    if (values.json) console.log(JSON.stringify({ id: e.id, event: e.type, data: e.data }));
    else if (e.type === "message") console.log(messageLine(e.data, color));
    else console.log(`${e.type} ${JSON.stringify(e.data)}`);
    if (values.exec && e.type === "message") await runExec(values.exec, e.id, e.data);
  };
  // Says "daemon unreachable, waiting…" and "reconnected" on stderr; a restarted daemon has a
  // new token (and maybe a new port): the link looks them up again.
  const link = new DaemonLink(api, values, env, (line) => console.error(line));
  const backoff = new Backoff(RECONNECT);
  try {
    while (!stop.signal.aborted) {
      try {
        for await (const e of eventsFrom(link.api, since, stop.signal)) {
          link.up();
          await handle(e);
          since = e.id;
          backoff.reset();
        }
        if (!stop.signal.aborted) link.lost(undefined);
      } catch (e) {
        if (stop.signal.aborted) break;
        link.lost(e);
      }
      if (stop.signal.aborted) break;
      await backoff.wait(stop.signal);
      if (!stop.signal.aborted) await link.reconnect();
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  return EXIT.ok;
}

function eventsFrom(
  api: ApiClient,
  since: number,
  signal: AbortSignal,
): AsyncGenerator<JournalEvent> {
  return api.events({ since, signal });
}

async function runExec(cmd: string, eventId: number, d: EventData<"message">): Promise<void> {
  const out = await new Deno.Command("sh", {
    args: ["-c", cmd],
    env: {
      SCHIED_FROM: d.from,
      SCHIED_FROM_NAME: d.from_name ?? "",
      SCHIED_TEXT: d.text,
      SCHIED_MESSAGE_ID: d.id,
      SCHIED_TS: String(d.ts),
      SCHIED_EVENT_ID: String(eventId),
    },
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output().catch((err) => {
    printError(`--exec failed to start: ${(err as Error).message}`);
    return undefined;
  });
  if (out && !out.success) printError(`--exec exited with ${out.code} for event ${eventId}`);
}
