/**
 * A file's outgoing payloads as rows of `messages` (protocol/README.md, section 11.10), and what
 * the sender does when the peer accepts, ends or acknowledges a transfer. Each function runs
 * inside a store write and records in `Effects` what must happen once it has committed (the
 * outbox changes only then). Used by files_flow.ts.
 *
 * @module
 */
import { utf8 } from "../protocol/bytes.ts";
import { chunkCount } from "../protocol/file.ts";
import type { FileRow, Files } from "./files.ts";
import type { Messages, PendingMessage } from "./messages.ts";
import type { Outbox } from "./outbox.ts";
import { rowId } from "./_ids.ts";

/** The parts a file's flow uses. */
export interface FileCtx {
  files: Files;
  messages: Messages;
  outbox: Outbox;
  now: () => number;
}

/** What to do once the write has committed. */
export interface Effects {
  /** New outbox entries. */
  add: PendingMessage[];
  /** Outbox entries that are no longer to be sent. */
  remove: PendingMessage[];
  /** Peers whose outbox changed. */
  kick: Set<string>;
  /** Incoming files whose last chunk is stored: to verify. */
  finish: string[];
  /** Files of the store to delete. */
  drop: string[];
}

/** No effects yet. */
export function noEffects(): Effects {
  return { add: [], remove: [], kick: new Set(), finish: [], drop: [] };
}

/** Part numbers of the non-chunk payloads. */
export const PART = { offer: -1, accept: -2, end: -3 } as const;

/**
 * Queues payload `part` of file `file` to `peer`: the next sequence number, status `queued`, no
 * event. `text` is an end's reason code (kept in clear: a code, not a secret).
 */
export function queuePart(
  c: FileCtx,
  peer: string,
  file: string,
  part: number,
  text = "",
): PendingMessage {
  const me = c.messages.self.idText, now = c.now();
  const store = c.messages.store;
  const bumped = store.stmt(
    `UPDATE peers SET next_send_seq = next_send_seq + 1 WHERE me = ? AND peer = ?
     RETURNING next_send_seq - 1 AS seq`,
  ).get(me, peer) as { seq: number } | undefined;
  let seq: number;
  if (bumped) seq = Number(bumped.seq);
  else {
    store.stmt("INSERT INTO peers (me, peer, next_send_seq) VALUES (?, ?, 2)").run(me, peer);
    seq = 1;
  }
  const id = rowId(now);
  store.stmt(
    `INSERT INTO messages (id, me, direction, peer, seq, body, ts, status, created_at, file, part)
     VALUES (?, ?, 'out', ?, ?, ?, ?, 'queued', ?, ?, ?)`,
  ).run(id, me, peer, seq, utf8.encode(text), now, now, file, part);
  return { id, peer, seq, text, ts: now, createdAt: now, status: "queued", file, part };
}

/** Fails a file (either way) and tells the peer with an end, unless `quiet` (the peer ended it). */
export function failFile(c: FileCtx, e: Effects, row: FileRow, reason: string, quiet = false) {
  if (row.state === "complete" || row.state === "failed") return;
  c.files.update(row, "failed", row.done, reason);
  c.files.event(row, "failed");
  if (row.direction === "out") {
    // Its chunks not yet sent are not sent.
    for (const m of c.outbox.pending(row.peer, 0, Number.MAX_SAFE_INTEGER)) {
      if (m.file === row.id && m.part !== PART.end && c.messages.markFailed(m, reason)) {
        e.remove.push(m);
      }
    }
    e.drop.push(c.files.outPath(row.id));
  } else e.drop.push(c.files.partPath(row.id));
  if (!quiet) {
    e.add.push(queuePart(c, row.peer, row.id, PART.end, reason));
    e.kick.add(row.peer);
  }
}

/** The peer accepted our offer of `fileId`: every chunk is queued, in order. */
export function onAccepted(c: FileCtx, e: Effects, peer: string, fileId: string): void {
  const row = c.files.get(fileId);
  if (!row || row.direction !== "out" || row.peer !== peer || row.state !== "offered") return;
  c.files.update(row, "sending", 0);
  c.files.event(row, "accepted");
  for (let i = 0; i < chunkCount(row.size); i++) e.add.push(queuePart(c, peer, fileId, i));
  e.kick.add(peer);
}

/**
 * The peer ended the transfer of `fileId`: `complete` (it has every chunk and verified the
 * whole), or why it failed (declined, over its quota, a bad chunk or hash, cancelled).
 */
export function onEnded(c: FileCtx, e: Effects, peer: string, fileId: string, reason: string) {
  const row = c.files.get(fileId);
  if (!row || row.peer !== peer) return;
  if (reason !== "complete") return failFile(c, e, row, reason, true);
  if (row.direction !== "out" || row.state !== "sending") return;
  c.files.update(row, "complete", row.done);
  c.files.event(row, "complete");
  e.drop.push(c.files.outPath(fileId));
}

/**
 * An acknowledgement covered `covered`: the chunks among them advance their files. A file whose
 * every chunk is acknowledged stays `sending` until the receiver has verified it and says so
 * (an end with reason `complete`): only then is it complete.
 */
export function onDelivered(c: FileCtx, covered: PendingMessage[]): void {
  const top = new Map<string, number>();
  for (const m of covered) {
    if (m.file !== undefined && (m.part ?? -1) >= 0) {
      top.set(m.file, Math.max(top.get(m.file) ?? -1, m.part!));
    }
  }
  for (const [id, part] of top) {
    const row = c.files.get(id);
    if (!row || row.state !== "sending" || part + 1 <= row.done) continue;
    c.files.update(row, "sending", part + 1);
    c.files.event(row, "progress");
  }
}
