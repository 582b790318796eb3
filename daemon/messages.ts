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
import { SEALED } from "./_migrations.ts";
import type { Journal } from "./journal.ts";
import type { Sealer } from "./sealer.ts";
import { type MessageRecord, type MessageStatus, ServiceError } from "./service.ts";

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

const SELECT = `SELECT m.*, c.name FROM messages m
  LEFT JOIN contacts c ON c.me = m.me AND c.id = m.peer`;

/** The message store of one identity (`me`). Texts are sealed at rest, NUL bytes and all. */
export class Messages {
  /** Binds to the database, the journal, the sealer and the current identity's id text. */
  constructor(
    readonly db: DatabaseSync,
    readonly journal: Journal,
    readonly sealer: Sealer,
    public me: string,
  ) {}

  #rec(r: Record<string, unknown>): MessageRecord {
    const id = r.id as string, peer = r.peer as string;
    const name = r.name as Uint8Array | null;
    const m: MessageRecord = {
      id,
      direction: r.direction as "in" | "out",
      peer,
      peer_name: name ? this.sealer.openText(name, SEALED.name, `${r.me}/${peer}`) : null,
      text: this.sealer.openText(r.body as Uint8Array, SEALED.body, id),
      ts: Number(r.ts),
      seq: Number(r.seq),
      status: r.status as MessageStatus,
      event_id: Number(r.event_id),
    };
    if (r.reason) m.reason = r.reason as string;
    return m;
  }

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
    return r ? this.#rec(r as Record<string, unknown>) : undefined;
  }

  /** Accepts an outgoing message: the next sequence number, status `queued`, an event. */
  accept(peer: string, text: string, idemKey: string | undefined, now: number): MessageRecord {
    const seq = Number(this.#peerRow(peer).next_send_seq);
    const id = crypto.randomUUID();
    const eventId = this.journal.append("status", { id, to: peer, status: "queued", seq });
    this.db.prepare(
      `INSERT INTO messages (id, me, direction, peer, seq, body, ts, status, idem_key, event_id, created_at)
       VALUES (?, ?, 'out', ?, ?, ?, ?, 'queued', ?, ?, ?)`,
    ).run(
      id,
      this.me,
      peer,
      seq,
      this.sealer.sealText(text, SEALED.body, id),
      now,
      idemKey ?? null,
      eventId,
      now,
    );
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
    return this.#rec(r as Record<string, unknown>);
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
    return (rows as Record<string, unknown>[]).map((r) => this.#rec(r));
  }

  /** Outgoing messages to `peer` not yet delivered, in sequence order. */
  pending(
    peer: string,
    afterSeq = 0,
    limit = 1_000_000,
  ): { id: string; seq: number; text: string; ts: number; status: MessageStatus }[] {
    return this.db.prepare(
      `SELECT id, seq, body, ts, status FROM messages WHERE me = ? AND peer = ? AND direction = 'out'
       AND status IN ('queued', 'sent') AND seq > ? ORDER BY seq LIMIT ?`,
    ).all(this.me, peer, afterSeq, limit).map((r) => ({
      id: r.id as string,
      seq: Number(r.seq),
      text: this.sealer.openText(r.body as Uint8Array, SEALED.body, r.id as string),
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

  /** The text of the latest message from `peer`, if any. */
  lastFrom(peer: string): string | null {
    const r = this.db.prepare(
      `SELECT id, body FROM messages WHERE me = ? AND peer = ? AND direction = 'in'
       ORDER BY seq DESC LIMIT 1`,
    ).get(this.me, peer) as { id: string; body: Uint8Array } | undefined;
    return r ? this.sealer.openText(r.body, SEALED.body, r.id) : null;
  }

  /** Marks every undelivered message to `peer` failed with `reason` (e.g. it was blocked). */
  failPending(peer: string, reason: string): number {
    const ids = this.db.prepare(
      `SELECT id FROM messages WHERE me = ? AND peer = ? AND direction = 'out'
       AND status IN ('queued', 'sent')`,
    ).all(this.me, peer).map((r) => r.id as string);
    for (const id of ids) this.markFailed(id, reason);
    return ids.length;
  }

  /** Incoming messages stored from `peer`. */
  countFrom(peer: string): number {
    return Number(
      (this.db.prepare(
        "SELECT count(*) AS n FROM messages WHERE me = ? AND peer = ? AND direction = 'in'",
      ).get(this.me, peer) as { n: number }).n,
    );
  }

  /**
   * Forgets a peer's incoming messages and sequence numbers (a request declined, dropped or
   * blocked); outgoing history is kept. Returns how many messages went.
   */
  forgetIncoming(peer: string): number {
    const r = this.db.prepare("DELETE FROM messages WHERE me = ? AND peer = ? AND direction = 'in'")
      .run(this.me, peer);
    this.db.prepare("DELETE FROM peers WHERE me = ? AND peer = ? AND next_send_seq = 1").run(
      this.me,
      peer,
    );
    this.db.prepare("UPDATE peers SET next_recv_seq = 1 WHERE me = ? AND peer = ?").run(
      this.me,
      peer,
    );
    return Number(r.changes);
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
    request = false,
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
    if (request && this.countFrom(peer) >= MAX_REQUEST_MESSAGES) return "held";
    const sealedName =
      (this.db.prepare("SELECT name FROM contacts WHERE me = ? AND id = ?").get(this.me, peer) as
        | { name: Uint8Array | null }
        | undefined)?.name ?? null;
    const name = sealedName
      ? this.sealer.openText(sealedName, SEALED.name, `${this.me}/${peer}`)
      : null;
    // The message id must be unique here; a sender reusing an id gets a fresh local one.
    const taken = this.db.prepare("SELECT 1 AS x FROM messages WHERE id = ?").get(m.id);
    const id = taken ? crypto.randomUUID() : m.id;
    // From a requester the event is a `request`: consumers of `message` see contacts only.
    const eventId = this.journal.append(request ? "request" : "message", {
      id,
      from: peer,
      from_name: name,
      text: m.text,
      ts: m.ts,
      seq: m.seq,
    });
    this.db.prepare(
      `INSERT INTO messages (id, me, direction, peer, seq, body, ts, status, event_id, created_at)
       VALUES (?, ?, 'in', ?, ?, ?, ?, 'delivered', ?, ?)`,
    ).run(
      id,
      this.me,
      peer,
      m.seq,
      this.sealer.sealText(m.text, SEALED.body, id),
      m.ts,
      eventId,
      now,
    );
    this.db.prepare("UPDATE peers SET next_recv_seq = ? WHERE me = ? AND peer = ?").run(
      m.seq + 1,
      this.me,
      peer,
    );
    return "stored";
  }
}
