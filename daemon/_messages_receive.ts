/**
 * Storing an incoming message, in sequence, and the bound on what a message request may store.
 * Used only by messages.ts, which re-exports ReceiveOutcome and MAX_REQUEST_MESSAGES.
 *
 * @module
 */
import { SEALED } from "./_migrations.ts";
import type { Messages } from "./messages.ts";
import { rowId } from "./_ids.ts";

/**
 * The outcome of storing an incoming message: `held` when a requester has MAX_REQUEST_MESSAGES
 * stored already (not stored, not acknowledged: it stays queued at the sender until accepted).
 */
export type ReceiveOutcome = "stored" | "duplicate" | "gap" | "held";

/**
 * Messages kept from one message request before it is accepted. Why 64: enough for anyone to
 * say who they are and why they write; beyond, the sender's daemon keeps the rest queued.
 */
export const MAX_REQUEST_MESSAGES = 64;

/**
 * Where a sequenced payload (a message, a file's payload) stands: `next` when it is the one
 * expected (the caller stores it and calls `advance`), else a duplicate or a gap. A `floor` above
 * the expected number moves it up first (the sender gave up on what is below).
 */
export function inSequence(
  messages: Messages,
  peer: string,
  seq: number,
  floor: number | undefined,
): "next" | "duplicate" | "gap" {
  let next = messages.nextRecvSeq(peer);
  if (floor !== undefined && floor > next) {
    next = floor;
    advance(messages, peer, floor - 1);
  }
  return seq < next ? "duplicate" : seq > next ? "gap" : "next";
}

/** The payload `seq` from `peer` is stored: the next expected is `seq + 1`. */
export function advance(messages: Messages, peer: string, seq: number): void {
  messages.store.stmt("UPDATE peers SET next_recv_seq = ? WHERE me = ? AND peer = ?")
    .run(seq + 1, messages.self.idText, peer);
}

/** An incoming message, with its group (id, group message id, local name) if it is a group's. */
export interface GroupReceived {
  id: string;
  seq: number;
  ts: number;
  text: string;
  floor?: number;
  g?: string;
  gm?: string;
  gname?: string | null;
}

/** Messages.receive: stores an incoming message if it is the next in sequence. */
export function receive(
  messages: Messages,
  peer: string,
  m: GroupReceived,
  now: number,
  request: boolean,
  carrier = false,
  fromName: string | null = null,
): ReceiveOutcome {
  const store = messages.store, me = messages.self.idText;
  let next = messages.nextRecvSeq(peer);
  if (m.floor !== undefined && m.floor > next) {
    // The sender gave up on the messages before `floor`: wait no longer for them.
    next = m.floor;
    store.stmt("UPDATE peers SET next_recv_seq = ? WHERE me = ? AND peer = ?")
      .run(next, me, peer);
  }
  if (m.seq < next) return "duplicate";
  if (m.seq > next) return "gap";
  if (carrier) {
    // A rotation statement's carrier (protocol/README.md, section 3.1): in sequence, not shown.
    store.stmt("UPDATE peers SET next_recv_seq = ? WHERE me = ? AND peer = ?")
      .run(m.seq + 1, me, peer);
    return "stored";
  }
  if (request && messages.countFrom(peer) >= MAX_REQUEST_MESSAGES) return "held";
  // The message id must be unique here; a sender reusing an id gets a fresh local one.
  // A group message's id is the group message's (the same at every member) when it is free.
  const want = m.gm ?? m.id;
  const taken = store.stmt("SELECT 1 AS x FROM messages WHERE id = ?").get(want);
  const id = taken ? rowId(now) : want;
  // From a requester the event is a `request`: consumers of `message` see contacts only.
  const data: Parameters<typeof messages.journal.append<"message">>[1] = {
    id,
    from: peer,
    from_name: fromName,
    text: m.text,
    ts: m.ts,
    seq: m.seq,
  };
  if (m.g !== undefined) Object.assign(data, { group: m.g, group_name: m.gname ?? null });
  const eventId = messages.journal.append(request ? "request" : "message", data);
  store.stmt(
    `INSERT INTO messages (id, me, direction, peer, seq, body, ts, status, event_id, created_at,
     grp, gmsg) VALUES (?, ?, 'in', ?, ?, ?, ?, 'delivered', ?, ?, ?, ?)`,
  ).run(
    id,
    me,
    peer,
    m.seq,
    store.sealer.sealText(m.text, SEALED.body, id),
    m.ts,
    eventId,
    now,
    m.g ?? null,
    m.gm ?? null,
  );
  store.stmt("UPDATE peers SET next_recv_seq = ? WHERE me = ? AND peer = ?")
    .run(m.seq + 1, me, peer);
  return "stored";
}
