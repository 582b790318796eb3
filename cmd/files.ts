/**
 * `schied files [ls|get|accept|rm]`: files sent and received.
 *
 * @module
 */
import type { ApiClient } from "../api/client.ts";
import { downloadFile, type FileRecord, listFiles, settleFile } from "../api/client_files.ts";
import { connectApi, GLOBAL_HELP, parseVerb, withApi } from "./_context.ts";
import { CliError, escapeText, EXIT, usage } from "./_output.ts";

/** Help of the verb. */
export const HELP = `Usage: schied files [ls|get|accept|rm] …

Files you sent (with 'schied send PEER' and a file) and received. A contact's file is received at
once (up to the daemon's max-file-bytes and per-peer file-quota); a file from someone
who is not a contact is held (nothing of it on your disk) until you accept it.

  schied files [ls] [--json]         list files, newest first: id, state, size, peer, name
  schied files get <id> [-o PATH]    write a received file to PATH (-o or --output; default:
                                     stdout, unless a terminal); PATH is replaced if it exists
  schied files accept <id>           receive a held file
  schied files rm <id>               cancel a transfer, decline a held file, or delete a
                                     received one (it leaves the disk and the peer's quota)

${GLOBAL_HELP}`;

function size(n: number): string {
  return n < 1024
    ? `${n} B`
    : n < 1024 * 1024
    ? `${(n / 1024).toFixed(1)} KiB`
    : `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function line(f: FileRecord): string {
  const who = f.peer_name ?? f.peer.slice(0, 8);
  const state = f.state === "failed" ? `failed (${f.reason ?? "?"})` : f.state;
  const pct = f.size === 0 ? 100 : Math.floor(f.bytes * 100 / f.size);
  const arrow = f.direction === "in" ? "from" : "to";
  // Wide enough for every state and the usual failures ("failed (too_large)"): columns line up.
  return `${f.id}  ${state.padEnd(18)} ${String(pct).padStart(3)}%  ${size(f.size).padStart(9)}  ` +
    `${arrow} ${escapeText(who)}  ${escapeText(f.name)}`;
}

/** Writes file `id` to `out` (a path, or stdout). */
async function get(api: ApiClient, id: string, out: string | undefined): Promise<void> {
  if (out === undefined && Deno.stdout.isTerminal()) {
    throw usage("a file is not written to a terminal", "pass -o PATH, or redirect stdout");
  }
  const res = await withApi(() => downloadFile(api, id));
  if (out === undefined) {
    return await res.body!.pipeTo(Deno.stdout.writable, { preventClose: true });
  }
  let f: Deno.FsFile;
  try {
    f = await Deno.open(out, { write: true, create: true, truncate: true, mode: 0o600 });
  } catch (e) {
    await res.body?.cancel();
    throw new CliError(`cannot write ${out}: ${(e as Error).message}`, EXIT.error);
  }
  try {
    await res.body!.pipeTo(f.writable);
  } catch (e) {
    await Deno.remove(out).catch(() => {});
    throw new CliError(`the download of ${id} broke off: ${(e as Error).message}`, EXIT.error);
  }
}

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseVerb(args, {
    json: { type: "boolean" },
    output: { type: "string", short: "o" },
  });
  const [sub = "ls", id, extra] = positionals;
  if (values.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (!["ls", "list", "get", "accept", "rm"].includes(sub)) {
    throw usage(`unknown files command "${sub}" (ls, get, accept, rm)`);
  }
  if (values.output !== undefined && sub !== "get") throw usage("-o goes with 'files get'");
  const api = await connectApi(values, env);
  if (sub === "ls" || sub === "list") {
    if (id) throw usage("usage: schied files [ls] [--json]");
    const fs = await withApi(() => listFiles(api));
    if (values.json) console.log(JSON.stringify(fs));
    else for (const f of fs) console.log(line(f));
    return EXIT.ok;
  }
  if (!id || extra) {
    throw usage(`usage: schied files ${sub} <id>${sub === "get" ? " [-o PATH]" : ""}`);
  }
  if (sub === "get") {
    await get(api, id, values.output);
    return EXIT.ok;
  }
  const f = await withApi(() => settleFile(api, id, sub === "accept" ? "accept" : "delete"));
  console.log(line(f));
  return EXIT.ok;
}
