/**
 * The file store on disk: every file kept as its sealed chunks (protocol/file.ts), block `i` at
 * offset `i · FILE_BLOCK_BYTES`. An upload is sealed on the way in; a download is opened on the
 * way out; a received file is verified (every chunk opens, size and SHA-256 match) before it is
 * moved into place. Used by files_flow.ts.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { fromHex, toHex } from "../protocol/bytes.ts";
import {
  chunkCount,
  chunkSize,
  FILE_BLOCK_BYTES,
  FILE_CHUNK_BYTES,
  openChunk,
  sealChunk,
} from "../protocol/file.ts";
import { TAG_LEN } from "../protocol/constants.ts";
import { ensurePrivateDir } from "../lib/private_fs.ts";
import { ServiceError } from "./service.ts";

/** A sealed upload: where it is and what it holds. */
export interface Sealed {
  size: number;
  sha256: string;
}

async function readFull(f: Deno.FsFile, buf: Uint8Array): Promise<number> {
  let n = 0;
  while (n < buf.length) {
    const r = await f.read(buf.subarray(n));
    if (r === null) break;
    n += r;
  }
  return n;
}

/**
 * Seals `body` into `path` under `key` as file `id`, at most `max` bytes: counted as they come,
 * so a body longer than it declared (or chunked, with no length) is cut off at `max + 1` bytes,
 * its partial copy deleted, and refused with `file_too_large`. Written to a temp file, synced,
 * then renamed into place.
 */
export async function sealUpload(
  body: ReadableStream<Uint8Array>,
  path: string,
  id: string,
  key: Uint8Array,
  max: number,
): Promise<Sealed> {
  await ensurePrivateDir(path.slice(0, path.lastIndexOf("/")));
  const tmp = `${path}.tmp`;
  const f = await Deno.open(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
  const fileId = fromHex(id), hash = createHash("sha256");
  const buf = new Uint8Array(FILE_CHUNK_BYTES);
  let fill = 0, i = 0, size = 0;
  const flush = async () => {
    const plain = buf.subarray(0, fill);
    hash.update(plain);
    const sealed = sealChunk(key, fileId, i++, plain);
    let n = 0;
    while (n < sealed.length) n += await f.write(sealed.subarray(n));
    fill = 0;
  };
  try {
    for await (const piece of body) {
      size += piece.length;
      if (size > max) {
        throw new ServiceError("file_too_large", `The file exceeds ${max} bytes (max-file-bytes)`);
      }
      let off = 0;
      while (off < piece.length) {
        const n = Math.min(piece.length - off, FILE_CHUNK_BYTES - fill);
        buf.set(piece.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === FILE_CHUNK_BYTES) await flush();
      }
    }
    if (fill > 0) await flush();
    await f.sync();
    f.close();
    await Deno.rename(tmp, path);
  } catch (e) {
    try {
      f.close();
    } catch { /* closed already */ }
    await Deno.remove(tmp).catch(() => {});
    await body.cancel().catch(() => {});
    throw e;
  }
  return { size, sha256: toHex(new Uint8Array(hash.digest())) };
}

/** Reads sealed block `i` of a file of `size` bytes (synchronous: the pump seals with it). */
export function readBlockSync(path: string, i: number, size: number): Uint8Array {
  const f = Deno.openSync(path, { read: true });
  try {
    f.seekSync(i * FILE_BLOCK_BYTES, Deno.SeekMode.Start);
    const out = new Uint8Array(chunkSize(size, i) + TAG_LEN);
    let n = 0;
    while (n < out.length) {
      const r = f.readSync(out.subarray(n));
      if (r === null) throw new Error(`Cannot read chunk ${i} of ${path}: the file is short`);
      n += r;
    }
    return out;
  } finally {
    f.close();
  }
}

/** Writes received blocks; `flush` syncs every file written and closes it. */
export class BlockWriter {
  readonly #open = new Map<string, Deno.FsFile>();

  /** Writes sealed block `i` into `path` (created 0600). */
  async write(path: string, i: number, block: Uint8Array): Promise<void> {
    let f = this.#open.get(path);
    if (!f) {
      await ensurePrivateDir(path.slice(0, path.lastIndexOf("/")));
      f = await Deno.open(path, { write: true, create: true, mode: 0o600 });
      this.#open.set(path, f);
    }
    await f.seek(i * FILE_BLOCK_BYTES, Deno.SeekMode.Start);
    let n = 0;
    while (n < block.length) n += await f.write(block.subarray(n));
  }

  /** Makes what was written durable (before the write that counts it commits). */
  async flush(): Promise<void> {
    for (const f of this.#open.values()) {
      await f.sync();
      f.close();
    }
    this.#open.clear();
  }
}

/** True when `path` holds file `id` whole: every chunk opens, and size and SHA-256 match. */
export async function verifySealed(
  path: string,
  id: string,
  key: Uint8Array,
  size: number,
  sha256: string,
): Promise<boolean> {
  // An empty file has no chunk: nothing was written for it.
  if (size === 0) await Deno.writeFile(path, new Uint8Array(0), { mode: 0o600, append: true });
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { read: true });
  } catch {
    return false;
  }
  const hash = createHash("sha256"), fileId = fromHex(id);
  try {
    for (let i = 0; i < chunkCount(size); i++) {
      const block = new Uint8Array(chunkSize(size, i) + TAG_LEN);
      if (await readFull(f, block) !== block.length) return false;
      hash.update(openChunk(key, fileId, i, size, block));
    }
    return toHex(new Uint8Array(hash.digest())) === sha256;
  } catch {
    return false;
  } finally {
    f.close();
  }
}

/** The plaintext of bytes `[start, end]` of a sealed file, opened chunk by chunk as it is read. */
export function openedStream(
  path: string,
  id: string,
  key: Uint8Array,
  size: number,
  start: number,
  end: number,
): ReadableStream<Uint8Array> {
  let i = Math.floor(start / FILE_CHUNK_BYTES);
  const last = size === 0 ? -1 : Math.floor(end / FILE_CHUNK_BYTES);
  const fileId = fromHex(id);
  let f: Deno.FsFile | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      if (i > last) {
        f?.close();
        f = undefined;
        return ctl.close();
      }
      f ??= await Deno.open(path, { read: true });
      await f.seek(i * FILE_BLOCK_BYTES, Deno.SeekMode.Start);
      const block = new Uint8Array(chunkSize(size, i) + TAG_LEN);
      if (await readFull(f, block) !== block.length) throw new Error(`${path} is short`);
      const plain = openChunk(key, fileId, i, size, block);
      const base = i * FILE_CHUNK_BYTES;
      ctl.enqueue(
        plain.subarray(Math.max(0, start - base), Math.min(plain.length, end - base + 1)),
      );
      i++;
    },
    cancel() {
      f?.close();
    },
  });
}
