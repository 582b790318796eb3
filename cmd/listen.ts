/**
 * `schied listen`: prints incoming messages as they arrive; reconnects to the daemon by itself
 * and resumes from the last event it saw, so nothing is missed or printed twice.
 *
 * @module
 */
import type { EventData, JournalEvent } from "../api/client.ts";
import { connectApi, GLOBAL_HELP, parseVerb, printHelp, RECONNECT, withApi } from "./_context.ts";
import { parseSince } from "./_since.ts";
import { messageLine, useColor } from "./_format.ts";
import { escapeText, EXIT, printError, usage } from "./_output.ts";
import { Backoff } from "../lib/backoff.ts";
import { DaemonLink } from "./_reconnect.ts";
import { saveInto } from "./_save_dir.ts";

/** Help of the verb. */
export const HELP = `Usage: schied listen [--json] [--all] [--since ID|DURATION] [--exec CMD]
                     [--save-dir DIR]

Prints incoming messages to stdout as they arrive, one per line ("12:00:01 alice: hi", with the
date for a message not from today; control characters escaped). Reconnects to the daemon by
itself and resumes where it left off. To see what you missed and exit: 'schied history PEER'.

  --json        JSON Lines: {"id": EVENT_ID, "event": "message", "data": {...}} per message
  --all         every event (request, status, presence, relay, rotation, error), not only
                messages; without it, a message request, a contact's move to a new id ("bob
                now uses id ..."), a peer with an older schied and a stranger's file offer
                are one-line notices on stderr (with --json, but for a request: their
                events, on stdout)
  --since ID    start after event ID (0: from the oldest kept event), or a duration back
                from now (90s, 10m, 2h, 1d, 1w, 1h30m); default: from now
  --exec CMD    run CMD (with sh -c) for each message, one at a time, with the message in
                SCHIED_FROM (id), SCHIED_FROM_NAME (contact name, or empty),
                SCHIED_FROM_LABEL (the name, else the id's first 8 characters), SCHIED_TEXT,
                SCHIED_MESSAGE_ID, SCHIED_TS, SCHIED_EVENT_ID, and for a group's message
                SCHIED_GROUP (its id) and SCHIED_GROUP_NAME (your name for it, or empty); its
                output (stdout too) goes to stderr, so stdout carries only messages
  --save-dir DIR  write each file received whole into DIR (its sender's name for it, made
                safe, never over an existing file: "name (2).ext"); a notice on stderr; a
                file offered by a non-contact is a notice too ('schied files accept ID');
                DIR/.schied-saved lists the ids saved, so --since never saves one twice

${GLOBAL_HELP}`;

/** The notice an event of this kind is (see `handle`), or undefined for none. */
function noticeOf(e: JournalEvent): string | undefined {
  if (e.type === "request") return `message request from ${e.data.from} (see 'schied requests')`;
  if (e.type === "rotation") return e.data.text;
  if (e.type === "error" && e.data.code === "peer_version") return e.data.message;
  if (e.type === "file" && e.data.phase === "offered" && e.data.file.state === "held") {
    const f = e.data.file;
    return `${f.peer} (not a contact) offers ${f.name}, ${f.size} bytes: ` +
      `'schied files accept ${f.id}' to receive it`;
  }
  return undefined;
}

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseVerb(args, {
    json: { type: "boolean" },
    all: { type: "boolean" },
    since: { type: "string" },
    exec: { type: "string" },
    "save-dir": { type: "string" },
  });
  if (values.help) return printHelp(HELP);
  if (positionals.length > 0) {
    throw usage(`schied listen takes no arguments, got "${positionals[0]}"`);
  }
  const from = values.since === undefined ? undefined : parseSince(values.since);
  const api = await connectApi(values, env);
  // A duration: the daemon finds the first event at that time (the first stream only).
  let sinceTs = from && "ts" in from ? from.ts : undefined;
  let since = from && "eventId" in from
    ? from.eventId
    : sinceTs === undefined
    ? (await withApi(() => api.status())).last_event_id
    : undefined;
  const color = useColor(env);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  // Says "daemon unreachable, waiting…" and "reconnected" on stderr; a restarted daemon has a
  // new token (and maybe a new port): the link looks them up again.
  const link = new DaemonLink(api, values, env, (line) => console.error(line));
  // A request whose sender has become a contact (accepted since) is that contact's message: a
  // replay (--since) shows it as one. Contacts are re-read when an unknown sender shows up.
  const contacts = new Map<string, string | null>();
  let contactsAt = 0;
  const contactOf = async (id: string): Promise<string | null | undefined> => {
    if (!contacts.has(id) && Date.now() - contactsAt >= 1000) {
      contactsAt = Date.now();
      const list = await link.api.contacts().catch(() => []);
      for (const c of list) contacts.set(c.id, c.name);
    }
    return contacts.has(id) ? contacts.get(id)! : undefined;
  };
  const handle = async (ev: JournalEvent) => {
    let e = ev;
    if (e.type === "request") {
      const name = await contactOf(e.data.from);
      if (name !== undefined) {
        e = { id: e.id, type: "message", data: { ...e.data, from_name: name } };
      }
    }
    // What a person must be told besides messages: a message request, a contact's move to a
    // new id, a peer that runs an older schied, a stranger's file. Without --all: a one-line
    // notice on stderr, or with --json the event itself as a JSON line, so that a script learns
    // of it too — but a request's: a stranger's text never reaches stdout (a script reads it).
    const notice = noticeOf(e);
    if (notice !== undefined && !values.all) {
      if (values.json && e.type !== "request") {
        console.log(JSON.stringify({ id: e.id, event: e.type, data: e.data }));
      } else console.error(`schied: ${escapeText(notice)}`);
      if (e.type !== "file") return;
    }
    if (e.type === "file") await onFile(e.data);
    if (e.type !== "message" && !values.all) return;
    if (values.json) console.log(JSON.stringify({ id: e.id, event: e.type, data: e.data }));
    else if (e.type === "message") console.log(messageLine(e.data, color));
    else console.log(`${e.type} ${JSON.stringify(e.data)}`);
    if (values.exec && e.type === "message") await runExec(values.exec, e.id, e.data);
  };
  const saveDir = values["save-dir"];
  if (saveDir !== undefined) {
    const st = await Deno.stat(saveDir).catch(() => undefined);
    if (!st?.isDirectory) throw usage(`--save-dir ${saveDir} is not a directory`);
  }
  const onFile = async (d: EventData<"file">) => {
    const f = d.file;
    if (f.direction !== "in") return;
    if (d.phase === "complete" && saveDir !== undefined) await saveInto(link.api, saveDir, f);
  };
  const backoff = new Backoff(RECONNECT);
  try {
    while (!stop.signal.aborted) {
      try {
        for await (const e of link.api.events({ since, sinceTs, signal: stop.signal })) {
          link.up();
          await handle(e);
          since = e.id;
          sinceTs = undefined;
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

async function runExec(cmd: string, eventId: number, d: EventData<"message">): Promise<void> {
  const out = new Deno.Command("sh", {
    args: ["-c", cmd],
    env: {
      SCHIED_FROM: d.from,
      SCHIED_FROM_NAME: d.from_name ?? "",
      SCHIED_FROM_LABEL: d.from_name || d.from.slice(0, 8),
      SCHIED_TEXT: d.text,
      SCHIED_MESSAGE_ID: d.id,
      SCHIED_TS: String(d.ts),
      SCHIED_EVENT_ID: String(eventId),
      SCHIED_GROUP: d.group ?? "",
      SCHIED_GROUP_NAME: d.group_name ?? "",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  });
  let child: Deno.ChildProcess;
  try {
    child = out.spawn();
  } catch (err) {
    printError(`--exec failed to start: ${(err as Error).message}`);
    return;
  }
  // Its stdout goes to stderr as it comes: stdout is for messages (a script reads it).
  await child.stdout.pipeTo(Deno.stderr.writable, { preventClose: true }).catch(() => {});
  const status = await child.status;
  if (!status.success) printError(`--exec exited with ${status.code} for event ${eventId}`);
}
