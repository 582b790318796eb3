/**
 * The engine's files (Engine.sendFile and the rest): an upload sealed into the store and offered
 * in one durable step, the list, accepting a held file, deleting one, and reading one back. Used
 * only by engine.ts.
 *
 * @module
 */
import { FILE_KEY_LEN, fileNameProblem, MEDIA_TYPE_RE } from "../protocol/file.ts";
import { parseId } from "../protocol/identity.ts";
import type { EngineParts } from "./_engine_parts.ts";
import { lookupKey, refuseKeyChange } from "./_engine_send.ts";
import { openedStream, sealUpload } from "./_files_disk.ts";
import { PART, queuePart } from "./_files_out.ts";
import { type FileRow, Files } from "./files.ts";
import { acceptIncoming, failFile, noEffects } from "./files_flow.ts";
import { BUSY_RETRY_AFTER_S, type FileRecord, ServiceError } from "./service.ts";

/** What an upload is. */
export interface FileUpload {
  to: string;
  name: string;
  /** Media type; application/octet-stream when absent. */
  type?: string;
  /** The declared length, if any (Content-Length): refused before any byte when too large. */
  size?: number;
  body: ReadableStream<Uint8Array>;
}

function flow(p: EngineParts) {
  if (!p.files) throw new ServiceError("bad_request", "This daemon has no file store");
  return p.files;
}

/** Seals an upload into the store and offers it to its recipient (Engine.sendFile). */
export async function sendFile(p: EngineParts, u: FileUpload): Promise<FileRecord> {
  const f = flow(p);
  const max = f.files.opts.maxFileBytes;
  const bad = fileNameProblem(u.name);
  if (bad) throw new ServiceError("bad_request", `Cannot send the file: its ${bad}`);
  const type = (u.type ?? "application/octet-stream").split(";")[0]!.trim().toLowerCase();
  if (!MEDIA_TYPE_RE.test(type)) {
    throw new ServiceError(
      "bad_request",
      `Cannot send the file: ${type.slice(0, 80)} is no media type`,
    );
  }
  if (u.size !== undefined && u.size > max) {
    await u.body.cancel().catch(() => {});
    throw new ServiceError(
      "file_too_large",
      `The file has ${u.size} bytes; at most ${max} (max-file-bytes)`,
    );
  }
  const peer = p.contacts.resolve(u.to);
  if (peer === p.self.idText) {
    throw new ServiceError("bad_request", "Cannot send a file to yourself");
  }
  refuseKeyChange(p, peer);
  if (p.outbox.full) {
    throw new ServiceError("busy", `The outbox is full; retry in ${BUSY_RETRY_AFTER_S} s`);
  }
  const id = Files.newId();
  const key = crypto.getRandomValues(new Uint8Array(FILE_KEY_LEN));
  const sealed = await sealUpload(u.body, f.files.outPath(id), id, key, max);
  if (!p.contacts.get(peer)?.identityKey) await lookupKey(p, peer);
  const now = p.now();
  const row: FileRow = {
    id,
    direction: "out",
    peer,
    name: u.name,
    type,
    key,
    size: sealed.size,
    sha256: sealed.sha256,
    state: "offered",
    done: 0,
    createdAt: now,
    updatedAt: now,
  };
  const e = await p.store.write(() => {
    const e = noEffects();
    p.contacts.ensure(peer);
    f.files.insert(row);
    f.files.event(row, "offered");
    e.add.push(queuePart(f.ctx, peer, id, PART.offer));
    e.kick.add(peer);
    return e;
  }).catch(async (err) => {
    await Deno.remove(f.files.outPath(id)).catch(() => {});
    throw err;
  });
  p.relay()?.watch([parseId(peer)]);
  f.apply(e);
  return f.files.record(row);
}

/** A file by id; not_found. */
export function fileRow(p: EngineParts, id: string): FileRow {
  const row = /^[0-9a-f]{32}$/.test(id) ? flow(p).files.get(id) : undefined;
  if (!row) throw new ServiceError("not_found", `No file with id ${id.slice(0, 80)}`);
  return row;
}

/** Files, newest first, optionally with one peer (Engine.files). */
export function listFiles(p: EngineParts, q: { with?: string; limit?: number }): FileRecord[] {
  const peer = q.with === undefined ? undefined : p.contacts.resolve(q.with);
  const f = flow(p);
  return f.files.list(peer, q.limit ?? 100).map((r) => f.files.record(r));
}

/** Accepts a held file: it is received like a contact's (Engine.acceptFile). */
export async function acceptFile(p: EngineParts, id: string): Promise<FileRecord> {
  const f = flow(p);
  fileRow(p, id);
  const e = await p.store.write(() => {
    const e = noEffects();
    const row = fileRow(p, id);
    if (row.direction !== "in" || row.state !== "held") {
      throw new ServiceError(
        "bad_request",
        `File ${id} is ${row.state}, not held: nothing to accept`,
      );
    }
    acceptIncoming(f.ctx, e, row);
    return e;
  });
  f.apply(e);
  return f.files.record(fileRow(p, id));
}

/**
 * Deletes a file (Engine.deleteFile): one being sent or received is cancelled (the peer told:
 * `declined` for a held one, `cancelled` otherwise); its bytes leave the disk, so they no longer
 * count against the peer's quota. The record stays, `failed`.
 */
export async function deleteFile(p: EngineParts, id: string): Promise<FileRecord> {
  const f = flow(p);
  fileRow(p, id);
  const e = await p.store.write(() => {
    const e = noEffects();
    const row = fileRow(p, id);
    if (row.state === "complete") {
      f.files.update(row, "failed", row.done, "deleted");
      e.drop.push(f.files.inPath(id), f.files.outPath(id));
    } else failFile(f.ctx, e, row, row.state === "held" ? "declined" : "cancelled");
    return e;
  });
  f.apply(e);
  return f.files.record(fileRow(p, id));
}

/** Bytes `[start, end]` of a received file (Engine.fileContent); file_not_ready before. */
export function fileContent(
  p: EngineParts,
  id: string,
  range?: { start: number; end: number },
): { file: FileRecord; body: ReadableStream<Uint8Array> } {
  const f = flow(p);
  const row = fileRow(p, id);
  if (row.direction !== "in" || row.state !== "complete") {
    throw new ServiceError(
      "file_not_ready",
      `File ${id} is ${row.direction === "out" ? "one you sent" : row.state}: nothing to download`,
    );
  }
  const { start, end } = range ?? { start: 0, end: row.size - 1 };
  return {
    file: f.files.record(row),
    body: openedStream(f.files.inPath(id), id, row.key, row.size, start, end),
  };
}
