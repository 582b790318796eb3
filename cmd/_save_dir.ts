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

/**
 * Longest saved name, in UTF-8 bytes. Why 200: file systems allow 255 bytes per name, and
 * ` (9999)` (7 bytes) may be added to make it free, with room to spare.
 */
export const MAX_SAVED_NAME_BYTES = 200;

// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f/\\\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * A name safe to create in DIR: no path separator, no control character, no bidirectional
 * control (which could make `txt.exe` show as `exe.txt`), no leading dot, and at most
 * MAX_SAVED_NAME_BYTES bytes (the stem is shortened, never in the middle of a character; the
 * extension is kept).
 */
export function safeName(name: string): string {
  const s = name.replace(UNSAFE, "_").replace(/^\.+/, "_");
  if (s === "") return "file";
  const enc = new TextEncoder();
  if (enc.encode(s).length <= MAX_SAVED_NAME_BYTES) return s;
  const dot = s.lastIndexOf(".");
  let ext = dot > 0 && s.length - dot <= 16 ? s.slice(dot) : "";
  if (enc.encode(ext).length > 16) ext = "";
  let stem = "";
  let room = MAX_SAVED_NAME_BYTES - enc.encode(ext).length;
  for (const ch of s.slice(0, s.length - ext.length)) {
    const n = enc.encode(ch).length;
    if (n > room) break;
    stem += ch;
    room -= n;
  }
  return stem + ext;
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

/**
 * The ids of the files saved into a dir, one per line in `.schied-saved` there, so that
 * `listen --since` replaying a file's `complete` event does not save it a second time (another
 * file of the same name and bytes is saved: it is another transfer).
 */
const SAVED_INDEX = ".schied-saved";

async function savedBefore(dir: string, id: string): Promise<boolean> {
  const text = await Deno.readTextFile(`${dir}/${SAVED_INDEX}`).catch(() => "");
  return text.split("\n").includes(id);
}

/** Saves received file `f` into `dir`; reports on stderr (a failure too, without stopping). */
export async function saveInto(api: ApiClient, dir: string, f: FileRecord): Promise<void> {
  const tmp = `${dir}/.schied-${f.id}.part`;
  try {
    if (await savedBefore(dir, f.id)) {
      console.error(`schied: ${escapeText(f.name)} (file ${f.id}) was saved in ${dir} already`);
      return;
    }
    const res = await downloadFile(api, f.id);
    const out = await Deno.open(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
    try {
      await res.body!.pipeTo(out.writable, { preventClose: true });
      await out.sync(); // the bytes are on disk before the name is
    } finally {
      out.close();
    }
    const path = await freePath(dir, safeName(f.name));
    await Deno.rename(tmp, path);
    await Deno.writeTextFile(`${dir}/${SAVED_INDEX}`, `${f.id}\n`, { append: true, mode: 0o600 });
    await syncDir(dir);
    const who = f.peer_name ?? f.peer.slice(0, 8);
    console.error(`schied: saved ${escapeText(path)} (${f.size} bytes from ${escapeText(who)})`);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    printError(`could not save file ${f.id} into ${dir}: ${(e as Error).message}`);
  }
}

/** Makes a rename in `dir` durable (the directory's entry synced); best effort elsewhere. */
async function syncDir(dir: string): Promise<void> {
  const d = await Deno.open(dir, { read: true }).catch(() => undefined);
  if (!d) return;
  try {
    await d.sync();
  } catch {
    /* a file system that cannot sync a directory */
  } finally {
    d.close();
  }
}
