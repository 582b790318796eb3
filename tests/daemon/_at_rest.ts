/**
 * Helpers of the at-rest tests: every file of a state dir, read as bytes, and a search for a
 * secret in every form a careless implementation could leave it in (raw bytes, UTF-8, UTF-16,
 * hex, base64 and base64url at each of the three byte alignments).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { DatabaseSync } from "node:sqlite";
import { toBase64Url, toHex, utf8 } from "../../protocol/bytes.ts";

/** One file of a state dir. */
export interface StateFile {
  /** Path relative to the state dir. */
  name: string;
  bytes: Uint8Array;
}

/** Every regular file under `dir` (recursively), as bytes; a file that vanished is skipped. */
export async function stateFiles(dir: string, sub = ""): Promise<StateFile[]> {
  const out: StateFile[] = [];
  for await (const e of Deno.readDir(sub ? `${dir}/${sub}` : dir)) {
    const name = sub ? `${sub}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await stateFiles(dir, name));
    else if (e.isFile) {
      try {
        out.push({ name, bytes: await Deno.readFile(`${dir}/${name}`) });
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The database files in an order that cannot miss a page a checkpoint is moving: the WAL first,
 * then the database (a page leaves the WAL only after it is in the database).
 */
export async function dbFiles(dir: string): Promise<StateFile[]> {
  const out: StateFile[] = [];
  for (const name of ["daemon.db-wal", "daemon.db-shm", "daemon.db"]) {
    try {
      out.push({ name, bytes: await Deno.readFile(`${dir}/${name}`) });
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }
  return out;
}

/** True if `needle` occurs in `hay`. */
export function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  if (needle.length === 0) throw new Error("empty needle");
  return Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength).indexOf(needle) >= 0;
}

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

/**
 * Base64 of `bytes` as it appears inside the encoding of a longer stream where `bytes` starts at
 * byte offset ≡ `k` (mod 3): only the characters that depend on `bytes` alone.
 */
function base64At(bytes: Uint8Array, k: number, url: boolean): string {
  const padded = new Uint8Array(k + bytes.length);
  padded.set(bytes, k);
  let s = (url ? toBase64Url(padded) : base64(padded)).replace(/=+$/, "");
  if ((8 * padded.length) % 6 !== 0) s = s.slice(0, -1); // the last char mixes in what follows
  return s.slice(Math.ceil((8 * k) / 6));
}

/** A named form of a secret. */
export interface Form {
  label: string;
  bytes: Uint8Array;
}

/** Every form of `bytes` worth searching for (each at least 16 bytes long for a 12-byte input). */
export function formsOf(bytes: Uint8Array, label: string): Form[] {
  const out: Form[] = [
    { label: `${label} (raw)`, bytes },
    { label: `${label} (hex)`, bytes: utf8.encode(toHex(bytes)) },
    { label: `${label} (HEX)`, bytes: utf8.encode(toHex(bytes).toUpperCase()) },
  ];
  for (const k of [0, 1, 2]) {
    out.push({ label: `${label} (base64+${k})`, bytes: utf8.encode(base64At(bytes, k, false)) });
    out.push({ label: `${label} (base64url+${k})`, bytes: utf8.encode(base64At(bytes, k, true)) });
  }
  return out;
}

/** Every form of a text: its UTF-8 forms (formsOf) and UTF-16LE. */
export function textForms(text: string, label = JSON.stringify(text)): Form[] {
  const u16 = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    u16[2 * i] = text.charCodeAt(i) & 0xff;
    u16[2 * i + 1] = text.charCodeAt(i) >> 8;
  }
  return [...formsOf(utf8.encode(text), label), { label: `${label} (utf-16le)`, bytes: u16 }];
}

/** Where each form occurs: "file: label" lines (empty when none does). */
export function findAll(files: StateFile[], forms: Form[]): string[] {
  const hits: string[] = [];
  for (const f of files) {
    for (const form of forms) {
      if (contains(f.bytes, form.bytes)) hits.push(`${f.name}: ${form.label}`);
    }
  }
  return hits;
}

/**
 * True if any `chunk`-byte piece of `blob` (at offsets 0, chunk, 2·chunk, …) is in any of the
 * files: a blob split over pages still shows.
 */
export function anyChunkIn(files: StateFile[], blob: Uint8Array, chunk = 32): boolean {
  for (let i = 0; i + chunk <= blob.length; i += chunk) {
    const piece = blob.subarray(i, i + chunk);
    if (files.some((f) => contains(f.bytes, piece))) return true;
  }
  return false;
}

/** Runs `fn` on a read-only connection to `path` (closed at once: it must not hold a snapshot). */
export function withReader<T>(path: string, fn: (db: DatabaseSync) => T): T {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** SHA-256 of a file, hex (undefined if it does not exist). */
export async function fileHash(path: string): Promise<string | undefined> {
  try {
    const bytes = await Deno.readFile(path);
    return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Writes a passphrase file (mode 0600) in a new temp dir; returns its path. */
export async function passphraseFile(passphrase: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "schied-pass-" });
  const path = `${dir}/passphrase`;
  await Deno.writeTextFile(path, passphrase + "\n", { mode: 0o600 });
  await Deno.chmod(path, 0o600);
  return path;
}
