/**
 * An outgoing message (or a file's payload) not yet delivered, as the outbox keeps it, and how a
 * row of `messages` becomes one. Used by messages.ts, which re-exports it.
 *
 * @module
 */
import { toBase64Url } from "../protocol/bytes.ts";

/** Settles group messages whose copies were marked (for messages.ts; _groups_status.ts). */
export { settleGroups } from "./_groups_status.ts";

/** An outgoing message not yet delivered, as the outbox keeps it. */
export interface PendingMessage {
  id: string;
  peer: string;
  seq: number;
  text: string;
  ts: number;
  createdAt: number;
  status: "queued" | "sent";
  /** The rotation statement it carries (base64url; protocol/README.md, section 3.1). */
  rot?: string;
  /** A carrier: no text, only `rot`; no part of the history and no status events. */
  carrier?: boolean;
  /**
   * A file's payload rather than a message (files.ts): the file id; no part of the history and
   * no status events (the file has its own).
   */
  file?: string;
  /** Which payload of the file: −1 the offer, −2 the acceptance, −3 the end, i ≥ 0 chunk i. */
  part?: number;
  /** A copy of a group message (section 11.11): the group, the epoch, the group message id. */
  g?: string;
  ge?: number;
  gm?: string;
  /** A group change carrier: the statements it sends (base64url, oldest first). */
  gc?: string[];
}

/**
 * True for what has no status events of its own (a carrier, a file's payload, a group change, a
 * copy of a group message: the group message has its own, daemon/_groups_status.ts).
 */
export function silent(
  m: { carrier?: boolean; file?: string; gm?: string; gc?: string[] },
): boolean {
  return m.carrier === true || m.file !== undefined || m.gm !== undefined || m.gc !== undefined;
}

/** A pending message as allPending reads it. */
export function pendingOf(r: Record<string, unknown>, text: string): PendingMessage {
  const m: PendingMessage = {
    id: r.id as string,
    peer: r.peer as string,
    seq: Number(r.seq),
    text,
    ts: Number(r.ts),
    createdAt: Number(r.created_at),
    status: r.status as "queued" | "sent",
  };
  if (r.rot) m.rot = toBase64Url(r.rot as Uint8Array);
  if (Number(r.carrier) === 1) m.carrier = true;
  if (typeof r.grp === "string" && typeof r.gmsg === "string") {
    m.g = r.grp;
    m.ge = Number(r.gep);
    m.gm = r.gmsg;
  }
  if (typeof r.gc === "string") m.gc = JSON.parse(r.gc);
  if (typeof r.file === "string") {
    m.file = r.file;
    m.part = Number(r.part);
  }
  return m;
}
