/**
 * Messages, both ways, in one table: the outbox (outgoing, `queued`/`sent`) and the journal of
 * conversation history. Per peer, outgoing messages get consecutive sequence numbers when
 * accepted, and incoming ones are stored only in sequence: each conversation keeps its order and
 * a retried message is never stored twice.
 *
 * Every method runs inside the caller's transaction and appends the matching journal events.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import type { Journal } from "./journal.ts";
import { type MessageRecord, type MessageStatus, ServiceError } from "./service.ts";

/** The outcome of storing an incoming message. */
export type ReceiveOutcome = "stored" | "duplicate" | "gap";

function rec(r: Record<string, unknown>): MessageRecord {
  const m: MessageRecord = {
    id: r.id as string,
    direction: r.direction as "in" | "out",
    peer: r.peer as string,
    peer_name: (r.name as string | null) ?? null,
    text: r.text as string,
    ts: Number(r.ts),
    seq: Number(r.seq),
    status: r.status as MessageStatus,
    event_id: Number(r.event_id),
  };
  if (r.reason) m.reason = r.reason as string;
  return m;
}

const SELECT = `SELECT m.*, c.name FROM messages m
  LEFT JOIN contacts c ON c.me = m.me AND c.id = m.peer`;

/** The message store of one identity (`me`). */
export class Messages {
  /** Binds to the database, the journal and the current identity's id text. */
  constructor(readonly db: DatabaseSync, readonly journal: Journal, public me: string) {}

  #peerRow(peer: string): { next_send_seq: number; next_recv_seq: number } {
    this.db.prepare("INSERT INTO peers (me, peer) VALUES (?, ?) ON CONFLICT DO NOTHING").run(
      this.me,
      peer,
    );
    return this.db.prepare(
      "SELECT next_send_seq, next_recv_seq FROM peers WHERE me = ? AND peer = ?",
    )
      .get(this.me, peer) as { next_send_seq: number; next_recv_seq: number };
  }

  /** An outgoing message already accepted under this idempotency key, if any. */
  byIdempotencyKey(key: string): MessageRecord | undefined {
    const r = this.db.prepare(`${SELECT} WHERE m.me = ? AND m.idem_key = ?`).get(this.me, key);
    return r ? rec(r as Record<string, unknown>) : undefined;
  }

  /** Accepts an outgoing message: the next sequence number, status `queued`, an event. */
  accept(peer: string, text: string, idemKey: string | undefined, now: number): MessageRecord {
    const seq = Number(this.#peerRow(peer).next_send_seq);
    const id = crypto.randomUUID();
    const eventId = this.journal.append("status", { id, to: peer, status: "queued", seq });
    this.db.prepare(
      `INSERT INTO messages (id, me, direction, peer, seq, text, ts, status, idem_key, event_id, created_at)
       VALUES (?, ?, 'out', ?, ?, ?, ?, 'queued', ?, ?, ?)`,
    ).run(id, this.me, peer, seq, text, now, idemKey ?? null, eventId, now);
    this.db.prepare("UPDATE peers SET next_send_seq = ? WHERE me = ? AND peer = ?").run(
      seq + 1,
      this.me,
      peer,
    );
    return this.get(id);
  }

  /** A message by id; throws not_found. */
  get(id: string): MessageRecord {
    const r = this.db.prepare(`${SELECT} WHERE m.id = ? AND m.me = ?`).get(id, this.me);
    if (!r) throw new ServiceError("not_found", `No message with id ${id.slice(0, 80)}`);
    return rec(r as Record<string, unknown>);
  }

  /** Messages after journal position `since`, optionally with one peer, oldest first. */
  list(peer: string | undefined, since: number, limit: number): MessageRecord[] {
    const rows = peer
      ? this.db.prepare(
        `${SELECT} WHERE m.me = ? AND m.peer = ? AND m.event_id > ? ORDER BY m.event_id LIMIT ?`,
      )
        .all(this.me, peer, since, limit)
      : this.db.prepare(`${SELECT} WHERE m.me = ? AND m.event_id > ? ORDER BY m.event_id LIMIT ?`)
        .all(this.me, since, limit);
    return (rows as Record<string, unknown>[]).map(rec);
  }

  /** Outgoing messages to `peer` not yet delivered, in sequence order. */
  pending(
    peer: string,
    afterSeq = 0,
    limit = 1_000_000,
  ): { id: string; seq: number; text: string; ts: number; status: MessageStatus }[] {
    return this.db.prepare(
      `SELECT id, seq, text, ts, status FROM messages WHERE me = ? AND peer = ? AND direction = 'out'
       AND status IN ('queued', 'sent') AND seq > ? ORDER BY seq LIMIT ?`,
    ).all(this.me, peer, afterSeq, limit).map((r) => ({
      id: r.id as string,
      seq: Number(r.seq),
      text: r.text as string,
      ts: Number(r.ts),
      status: r.status as MessageStatus,
    }));
  }

  /** Peers with undelivered outgoing messages. */
  peersWithPending(): string[] {
    return this.db.prepare(
      `SELECT DISTINCT peer FROM messages WHERE me = ? AND direction = 'out' AND status IN ('queued', 'sent')`,
    ).all(this.me).map((r) => r.peer as string);
  }

  /** The outbox's size and the creation time of its oldest message. */
  outboxStats(): { size: number; oldest: number | null } {
    const r = this.db.prepare(
      `SELECT count(*) AS n, min(created_at) AS oldest FROM messages WHERE me = ? AND direction = 'out'
       AND status IN ('queued', 'sent')`,
    ).get(this.me) as { n: number; oldest: number | null };
    return { size: Number(r.n), oldest: r.oldest === null ? null : Number(r.oldest) };
  }

  /** Marks `queued` messages `sent` (the relay handed them to the peer's session). */
  markSent(ids: string[]): void {
    const upd = this.db.prepare(
      "UPDATE messages SET status = 'sent' WHERE id = ? AND status = 'queued'",
    );
    for (const id of ids) {
      if (Number(upd.run(id).changes) === 1) {
        const m = this.get(id);
        this.journal.append("status", { id, to: m.peer, status: "sent", seq: m.seq });
      }
    }
  }

  /** Marks every undelivered message to `peer` with seq ≤ `upto` delivered (an end-to-end ack). */
  markDelivered(peer: string, upto: number): number {
    const rows = this.db.prepare(
      `SELECT id, seq FROM messages WHERE me = ? AND peer = ? AND direction = 'out'
       AND status IN ('queued', 'sent') AND seq <= ? ORDER BY seq`,
    ).all(this.me, peer, upto);
    const upd = this.db.prepare("UPDATE messages SET status = 'delivered' WHERE id = ?");
    for (const r of rows) {
      upd.run(r.id as string);
      this.journal.append("status", {
        id: r.id,
        to: peer,
        status: "delivered",
        seq: Number(r.seq),
      });
    }
    return rows.length;
  }

  /** Marks a message failed with a reason. */
  markFailed(id: string, reason: string): void {
    const m = this.get(id);
    this.db.prepare("UPDATE messages SET status = 'failed', reason = ? WHERE id = ?").run(
      reason,
      id,
    );
    this.journal.append("status", { id, to: m.peer, status: "failed", seq: m.seq, reason });
  }

  /** Outgoing undelivered messages created before `cutoff`. */
  expired(cutoff: number): string[] {
    return this.db.prepare(
      `SELECT id FROM messages WHERE me = ? AND direction = 'out' AND status IN ('queued', 'sent')
       AND created_at < ?`,
    ).all(this.me, cutoff).map((r) => r.id as string);
  }

  /** The next sequence number expected from `peer`. */
  nextRecvSeq(peer: string): number {
    return Number(this.#peerRow(peer).next_recv_seq);
  }

  /**
   * Stores an incoming message if it is the next in sequence; earlier ones are duplicates and
   * later ones are a gap (the sender resends from the gap, so the order holds).
   */
  receive(
    peer: string,
    m: { id: string; seq: number; ts: number; text: string; floor?: number },
    now: number,
  ): ReceiveOutcome {
    let next = this.nextRecvSeq(peer);
    if (m.floor !== undefined && m.floor > next) {
      // The sender gave up on the messages before `floor`: wait no longer for them.
      next = m.floor;
      this.db.prepare("UPDATE peers SET next_recv_seq = ? WHERE me = ? AND peer = ?").run(
        next,
        this.me,
        peer,
      );
    }
    if (m.seq < next) return "duplicate";
    if (m.seq > next) return "gap";
    const name =
      (this.db.prepare("SELECT name FROM contacts WHERE me = ? AND id = ?").get(this.me, peer) as
        | { name: string | null }
        | undefined)?.name ?? null;
    // The message id must be unique here; a sender reusing an id gets a fresh local one.
    const taken = this.db.prepare("SELECT 1 AS x FROM messages WHERE id = ?").get(m.id);
    const id = taken ? crypto.randomUUID() : m.id;
    const eventId = this.journal.append("message", {
      id,
      from: peer,
      from_name: name,
      text: m.text,
      ts: m.ts,
      seq: m.seq,
    });
    this.db.prepare(
      `INSERT INTO messages (id, me, direction, peer, seq, text, ts, status, event_id, created_at)
       VALUES (?, ?, 'in', ?, ?, ?, ?, 'delivered', ?, ?)`,
    ).run(id, this.me, peer, m.seq, m.text, m.ts, eventId, now);
    this.db.prepare("UPDATE peers SET next_recv_seq = ? WHERE me = ? AND peer = ?").run(
      m.seq + 1,
      this.me,
      peer,
    );
    return "stored";
  }
}
