/**
 * The receiver's side of a file (protocol/README.md, section 11.10): an offer becomes a file,
 * accepted at once from a contact (within the size limit and the peer's quota) or held from
 * anyone else until the user accepts it; chunks are opened and written before the write that
 * counts them, and a bad or misplaced one fails the transfer. The in-write functions record
 * their after-commit work in `Effects`. Used by files_flow.ts.
 *
 * @module
 */
import { fromBase64Url, fromHex } from "../protocol/bytes.ts";
import { chunkCount, openChunk } from "../protocol/file.ts";
import type { FilePayload } from "../protocol/payload.ts";
import type { FileRow } from "./files.ts";
import { Groups } from "./groups.ts";
import type { BlockWriter } from "./_files_disk.ts";
import { type Effects, failFile, type FileCtx, PART, queuePart } from "./_files_out.ts";

/** Files held from one non-contact at most; later offers wait at the sender, unacknowledged. */
export const MAX_HELD_FILES = 16;

type Offer = Extract<FilePayload, { t: "fo" }>;
type Chunk = Extract<FilePayload, { t: "fc" }>;

/** What the pre-step made of a chunk: written, refused, or not this daemon's to take. */
export type ChunkCheck = "ok" | "bad" | "skip";

function heldFrom(c: FileCtx, peer: string): number {
  return Number(
    (c.files.store.stmt(
      "SELECT count(*) AS n FROM files WHERE me = ? AND peer = ? AND direction = 'in' AND state = 'held'",
    ).get(c.files.self.idText, peer) as { n: number }).n,
  );
}

/**
 * An offer from `peer`, in sequence: a new incoming file. Returns false when it must wait (a
 * non-contact holding MAX_HELD_FILES already): not stored, not acknowledged.
 */
export function onOffer(c: FileCtx, e: Effects, peer: string, p: Offer, stranger: boolean) {
  if (c.files.get(p.file)) return true; // a file id seen already: taken, nothing new
  if (stranger && heldFrom(c, peer) >= MAX_HELD_FILES) return false;
  const now = c.now();
  const row: FileRow = {
    id: p.file,
    direction: "in",
    peer,
    name: p.name,
    type: p.type,
    key: fromBase64Url(p.key),
    size: p.size,
    sha256: p.sha256,
    state: "held",
    done: 0,
    createdAt: now,
    updatedAt: now,
  };
  // A group's file keeps its group only if the sender is a member of it here: no one can file
  // something under a group it is not in.
  if (p.g && new Groups(c.files.store, c.files.self).get(p.g)?.members.includes(peer)) {
    row.group = p.g;
  }
  c.files.insert(row);
  // A stranger's file is offered as held; a contact's is taken at once, so its offer shows the
  // state it is in (receiving), never "held", which would read as a stranger's request.
  if (stranger) c.files.event(row, "offered");
  else acceptIncoming(c, e, row, true);
  return true;
}

/**
 * Accepts an incoming file (a contact's at once, a held one when the user says so): within the
 * largest size and the peer's quota it is `receiving` and the sender is told to go on (`fa`);
 * otherwise it fails (`too_large`, `quota`) and the sender is told why (`fx`). `offered`: a
 * contact's new file, whose `offered` event comes once it is receiving.
 */
export function acceptIncoming(c: FileCtx, e: Effects, row: FileRow, offered = false): void {
  const { maxFileBytes, quotaBytes } = c.files.opts;
  // A contact's file refused at once: one `failed` event, with the reason.
  if (row.size > maxFileBytes) return failFile(c, e, row, "too_large");
  if (c.files.usedBy(row.peer) + row.size > quotaBytes) return failFile(c, e, row, "quota");
  c.files.update(row, "receiving", 0);
  if (offered) c.files.event(row, "offered");
  c.files.event(row, "accepted");
  e.add.push(queuePart(c, row.peer, row.id, PART.accept));
  e.kick.add(row.peer);
  if (row.size === 0) e.finish.push(row.id);
}

/**
 * Before the write: opens a chunk of a file being received from `peer` under the file's key
 * and writes it (still sealed) into the partial file. `skip` for a chunk of no file of ours
 * being received, or one stored already.
 */
export async function checkChunk(
  c: FileCtx,
  w: BlockWriter,
  peer: string,
  p: Chunk,
): Promise<ChunkCheck> {
  const row = c.files.get(p.file);
  if (!row || row.direction !== "in" || row.peer !== peer || row.state !== "receiving") {
    return "skip";
  }
  if (p.i < row.done) return "skip";
  const sealed = fromBase64Url(p.data);
  try {
    openChunk(row.key, fromHex(row.id), p.i, row.size, sealed);
  } catch {
    return "bad";
  }
  await w.write(c.files.partPath(row.id), p.i, sealed);
  return "ok";
}

/**
 * A chunk in sequence. Chunks come in order, so it must be the next one of its file: anything
 * else (refused by checkChunk, out of place) fails the transfer (`bad_chunk`). The last one
 * queues the verification.
 */
export function onChunk(c: FileCtx, e: Effects, peer: string, p: Chunk, check: ChunkCheck) {
  const row = c.files.get(p.file);
  if (!row || row.direction !== "in" || row.peer !== peer || row.state !== "receiving") return;
  if (check !== "ok" || p.i !== row.done) return failFile(c, e, row, "bad_chunk");
  const done = row.done + 1;
  c.files.update(row, "receiving", done);
  if (done === chunkCount(row.size)) e.finish.push(row.id);
  else c.files.event(row, "progress");
}
