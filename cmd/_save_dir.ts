/**
 * `schied listen --save-dir DIR`: each file received whole (a `file` event, phase `complete`) is
 * written into DIR under its sender's name for it, made safe (no directory, no control
 * characters) and never over an existing file (`name (2).ext`, …), through a temp file renamed
 * into place.
 *
 * @module
 */
import type { ApiClient } from "../api/client.ts";
import { downloadFile, type FileRecord } from "../api/client_files.ts";
import { escapeText, printError } from "./_output.ts";

/** A name safe to create in DIR: its last path part, control characters and slashes replaced. */
export function safeName(name: string): string {
  // deno-lint-ignore no-control-regex
  const s = name.replace(/[\u0000-\u001f\u007f/\\]/g, "_").replace(/^\.+/, "_").slice(0, 200);
  return s === "" ? "file" : s;
}

/** `name`, else `stem (2).ext`, `stem (3).ext`, … : the first that does not exist in `dir`. */
async function freePath(dir: string, name: string): Promise<string> {
  const dot = name.lastIndexOf(".");
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
  for (let n = 1; n < 10_000; n++) {
    const path = `${dir}/${n === 1 ? name : `${stem} (${n})${ext}`}`;
    const taken = await Deno.lstat(path).then(() => true, () => false);
    if (!taken) return path;
  }
  throw new Error(`no free name for ${name} in ${dir}`);
}

/** Saves received file `f` into `dir`; reports on stderr (a failure too, without stopping). */
export async function saveInto(api: ApiClient, dir: string, f: FileRecord): Promise<void> {
  const tmp = `${dir}/.schied-${f.id}.part`;
  try {
    const res = await downloadFile(api, f.id);
    const out = await Deno.open(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
    await res.body!.pipeTo(out.writable);
    const path = await freePath(dir, safeName(f.name));
    await Deno.rename(tmp, path);
    const who = f.peer_name ?? f.peer.slice(0, 8);
    console.error(`schied: saved ${escapeText(path)} (${f.size} bytes from ${escapeText(who)})`);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    printError(`could not save file ${f.id} into ${dir}: ${(e as Error).message}`);
  }
}
