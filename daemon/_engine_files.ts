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
import { groupTo } from "./_engine_group_send.ts";
import type { GroupRow } from "./groups.ts";
import { openedStream, sealUpload } from "./_files_disk.ts";
import { PART, queuePart } from "./_files_out.ts";
import { type FileRow, Files } from "./files.ts";
import { acceptIncoming, failFile, noEffects } from "./files_flow.ts";
import { BUSY_RETRY_AFTER_S, type FileRecord, type GroupFiles, ServiceError } from "./service.ts";

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

/** Checks an upload's name, media type and declared size; its media type, normalized. */
async function checkUpload(u: FileUpload, max: number): Promise<string> {
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
  return type;
}

/**
 * Seals an upload into the store and offers it to its recipient (Engine.sendFile); to a group
 * (its name or id), one transfer per other member, all of the same bytes, offered together.
 */
export async function sendFile(p: EngineParts, u: FileUpload): Promise<FileRecord | GroupFiles> {
  const f = flow(p);
  const type = await checkUpload(u, f.files.opts.maxFileBytes);
  const g = groupTo(p, u.to);
  if (g) return await sendGroupFile(p, g, u, type);
  const peer = p.contacts.resolve(u.to);
  if (peer === p.self.idText) {
    throw new ServiceError("bad_request", "Cannot send a file to yourself");
  }
  refuseKeyChange(p, peer);
  if (p.outbox.full) {
    throw new ServiceError("busy", `The outbox is full; retry in ${BUSY_RETRY_AFTER_S} s`);
  }
  const row = await sealFor(p, peer, u.name, type, u.body);
  return (await offer(p, [row]))[0]!;
}

/**
 * A file to every other member of `g`: the upload is sealed once for the first, then read back
 * from that sealed copy for each of the others (each transfer is a file of its pair, with its
 * own id and key, sections 11.10 and 11.11), so every member gets the same bytes; all are
 * offered in one write, before which no transfer can finish and take the first copy away.
 * A member whose key change is held gets its transfer held like its group messages.
 */
async function sendGroupFile(
  p: EngineParts,
  g: GroupRow,
  u: FileUpload,
  type: string,
): Promise<GroupFiles> {
  const label = g.name ?? g.group;
  if (g.state !== "member") {
    await u.body.cancel().catch(() => {});
    throw new ServiceError("bad_request", `You are no member of group ${label} (${g.state})`);
  }
  const to = g.members.filter((m) => m !== p.self.idText);
  if (to.length === 0) {
    await u.body.cancel().catch(() => {});
    throw new ServiceError("bad_request", `Group ${label} has no other member`);
  }
  if (p.outbox.full) {
    await u.body.cancel().catch(() => {});
    throw new ServiceError("busy", `The outbox is full; retry in ${BUSY_RETRY_AFTER_S} s`);
  }
  const f = flow(p);
  const rows = [await sealFor(p, to[0]!, u.name, type, u.body, g.group)];
  const first = rows[0]!;
  try {
    for (const member of to.slice(1)) {
      const body = first.size === 0 ? new Response(new Uint8Array(0)).body! : openedStream(
        f.files.outPath(first.id),
        first.id,
        first.key,
        first.size,
        0,
        first.size - 1,
      );
      rows.push(await sealFor(p, member, u.name, type, body, g.group));
    }
  } catch (e) {
    for (const r of rows) await Deno.remove(f.files.outPath(r.id)).catch(() => {});
    throw e;
  }
  return { group: g.group, group_name: g.name, files: await offer(p, rows) };
}

/** Seals `body` into the store for `peer`: the row of a new outgoing file, not yet stored. */
async function sealFor(
  p: EngineParts,
  peer: string,
  name: string,
  type: string,
  body: ReadableStream<Uint8Array>,
  group?: string,
): Promise<FileRow> {
  const f = flow(p);
  const id = Files.newId();
  const key = crypto.getRandomValues(new Uint8Array(FILE_KEY_LEN));
  const sealed = await sealUpload(body, f.files.outPath(id), id, key, f.files.opts.maxFileBytes);
  try {
    if (!p.contacts.get(peer)?.identityKey) await lookupKey(p, peer);
  } catch (e) {
    await Deno.remove(f.files.outPath(id)).catch(() => {});
    throw e;
  }
  const now = p.now();
  return {
    id,
    direction: "out",
    peer,
    name,
    type,
    key,
    size: sealed.size,
    sha256: sealed.sha256,
    state: "offered",
    done: 0,
    createdAt: now,
    updatedAt: now,
    ...(group === undefined ? {} : { group }),
  };
}

/** Stores and offers sealed files in one write (their copies deleted if it fails). */
async function offer(p: EngineParts, rows: FileRow[]): Promise<FileRecord[]> {
  const f = flow(p);
  const e = await p.store.write(() => {
    const e = noEffects();
    for (const row of rows) {
      p.contacts.ensure(row.peer);
      f.files.insert(row);
      f.files.event(row, "offered");
      e.add.push(queuePart(f.ctx, row.peer, row.id, PART.offer));
      e.kick.add(row.peer);
    }
    return e;
  }).catch(async (err) => {
    for (const row of rows) await Deno.remove(f.files.outPath(row.id)).catch(() => {});
    throw err;
  });
  p.relay()?.watch(rows.map((r) => parseId(r.peer)));
  f.apply(e);
  return rows.map((r) => f.files.record(r));
}

/** A file by id; not_found. */
export function fileRow(p: EngineParts, id: string): FileRow {
  const row = /^[0-9a-f]{32}$/.test(id) ? flow(p).files.get(id) : undefined;
  if (!row) throw new ServiceError("not_found", `No file with id ${id.slice(0, 80)}`);
  return row;
}

/** Files, newest first, optionally with one peer or of one group (Engine.files). */
export function listFiles(p: EngineParts, q: { with?: string; limit?: number }): FileRecord[] {
  const f = flow(p);
  const limit = q.limit ?? 100;
  const g = q.with === undefined ? undefined : groupTo(p, q.with);
  if (g) {
    // The group is in each file's sealed metadata: the newest files are read and filtered.
    return f.files.list(undefined, 10_000).filter((r) => r.group === g.group).slice(0, limit)
      .map((r) => f.files.record(r));
  }
  const peer = q.with === undefined ? undefined : p.contacts.resolve(q.with);
  return f.files.list(peer, limit).map((r) => f.files.record(r));
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
