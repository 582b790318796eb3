/**
 * Messages, both ways, in one table: the outbox (outgoing, `queued`/`sent`) and the journal of
 * conversation history. Per peer, outgoing messages get consecutive sequence numbers when
 * accepted, and incoming ones are stored only in sequence: each conversation keeps its order and
 * a retried message is never stored twice. Texts are sealed at rest, NUL bytes and all.
 *
 * Writes run inside a store operation and append the matching journal events; what is pending
 * is also indexed in memory (outbox.ts), which reads this table only at start.
 *
 * @module
 */
import { fromBase64Url } from "../protocol/bytes.ts";
import { SEALED } from "./_migrations.ts";
import { type GroupReceived, receive, type ReceiveOutcome } from "./_messages_receive.ts";
import { type PendingMessage, pendingOf, settleGroups, silent } from "./_messages_pending.ts";
import type { Journal } from "./journal.ts";
import type { Self } from "./self.ts";
import type { Store } from "./store.ts";
import { type MessageRecord, type MessageStatus, ServiceError } from "./service.ts";
import { rowId } from "./_ids.ts";

export { MAX_REQUEST_MESSAGES, type ReceiveOutcome } from "./_messages_receive.ts";
export { type PendingMessage, pendingOf, silent } from "./_messages_pending.ts";

const SELECT = `SELECT m.*, c.name FROM messages m
  LEFT JOIN contacts c ON c.me = m.me AND c.id = m.peer`;

/** The message store of the current identity. */
export class Messages {
  /** Binds to the store, the journal and the current identity. */
  constructor(readonly store: Store, readonly journal: Journal, readonly self: Self) {}

  get #me(): string {
    return this.self.idText;
  }

  #open(body: Uint8Array, id: string): string {
    return this.store.sealer.openText(body, SEALED.body, id);
  }

  #rec(r: Record<string, unknown>): MessageRecord {
    const id = r.id as string, peer = r.peer as string;
    const name = r.name as Uint8Array | null;
    const m: MessageRecord = {
      id,
      direction: r.direction as "in" | "out",
      peer,
      peer_name: name ? this.store.sealer.openText(name, SEALED.name, `${r.me}/${peer}`) : null,
      text: this.#open(r.body as Uint8Array, id),
      ts: Number(r.ts),
      seq: Number(r.seq),
      status: r.status as MessageStatus,
      event_id: Number(r.event_id),
    };
    if (r.reason) m.reason = r.reason as string;
    if (typeof r.grp === "string") m.group = r.grp;
    return m;
  }

  #peerRow(peer: string): { next_send_seq: number; next_recv_seq: number } {
    type Row = { next_send_seq: number; next_recv_seq: number };
    const read = () =>
      this.store.stmt("SELECT next_send_seq, next_recv_seq FROM peers WHERE me = ? AND peer = ?")
        .get(this.#me, peer) as Row | undefined;
    // One statement once the row exists (every message of a known peer reads it).
    const row = read();
    if (row) return row;
    this.store.stmt("INSERT INTO peers (me, peer) VALUES (?, ?) ON CONFLICT DO NOTHING")
      .run(this.#me, peer);
    return read()!;
  }

  /** An outgoing message already accepted under this idempotency key, if any. */
  byIdempotencyKey(key: string): MessageRecord | undefined {
    const r = this.store.stmt(`${SELECT} WHERE m.me = ? AND m.idem_key = ?`).get(this.#me, key);
    return r ? this.#rec(r as Record<string, unknown>) : undefined;
  }

  /**
   * Accepts an outgoing message: the next sequence number, status `queued`, an event. `rot`: the
   * rotation statement it carries (while the peer has not acknowledged one, see Outbox.carrier).
   */
  accept(
    peer: string,
    text: string,
    idemKey: string | undefined,
    now: number,
    rot?: string,
  ): { m: PendingMessage; eventId: number } {
    // One statement in the usual case: the row exists and its counter moves on.
    const bumped = this.store.stmt(
      `UPDATE peers SET next_send_seq = next_send_seq + 1 WHERE me = ? AND peer = ?
       RETURNING next_send_seq - 1 AS seq`,
    ).get(this.#me, peer) as { seq: number } | undefined;
    let seq: number;
    if (bumped) seq = Number(bumped.seq);
    else {
      this.store.stmt("INSERT INTO peers (me, peer, next_send_seq) VALUES (?, ?, 2)")
        .run(this.#me, peer);
      seq = 1;
    }
    const id = rowId(now);
    const eventId = this.journal.append("status", { id, to: peer, status: "queued", seq });
    this.store.stmt(
      `INSERT INTO messages (id, me, direction, peer, seq, body, ts, status, idem_key, event_id,
       created_at, rot) VALUES (?, ?, 'out', ?, ?, ?, ?, 'queued', ?, ?, ?, ?)`,
    ).run(
      id,
      this.#me,
      peer,
      seq,
      this.store.sealer.sealText(text, SEALED.body, id),
      now,
      idemKey ?? null,
      eventId,
      now,
      rot === undefined ? null : fromBase64Url(rot),
    );
    const m: PendingMessage = { id, peer, seq, text, ts: now, createdAt: now, status: "queued" };
    if (rot !== undefined) m.rot = rot;
    return { m, eventId };
  }

  /** A message by id; throws not_found. */
  get(id: string): MessageRecord {
    const r = this.store.stmt(`${SELECT} WHERE m.id = ? AND m.me = ?`).get(id, this.#me);
    if (!r) throw new ServiceError("not_found", `No message with id ${id.slice(0, 80)}`);
    return this.#rec(r as Record<string, unknown>);
  }

  /**
   * Messages after journal position `since` and stored at or after `sinceTs`, optionally with
   * one peer, oldest first (or newest first with `desc`), at most `limit`.
   */
  list(q: {
    peer: string | undefined;
    since: number;
    sinceTs: number;
    limit: number;
    desc: boolean;
  }): MessageRecord[] {
    const order = q.desc ? "DESC" : "ASC";
    const where = `m.me = ? AND m.carrier = 0 AND m.file IS NULL AND m.gc IS NULL AND m.event_id > ?
       AND m.created_at >= ? AND NOT (m.direction = 'out' AND m.gmsg IS NOT NULL)`;
    const rows = q.peer
      ? this.store.stmt(
        `${SELECT} WHERE ${where} AND m.peer = ? ORDER BY m.event_id ${order} LIMIT ?`,
      ).all(this.#me, q.since, q.sinceTs, q.peer, q.limit)
      : this.store.stmt(`${SELECT} WHERE ${where} ORDER BY m.event_id ${order} LIMIT ?`)
        .all(this.#me, q.since, q.sinceTs, q.limit);
    return (rows as Record<string, unknown>[]).map((r) => this.#rec(r));
  }

  /** Every outgoing message not yet delivered, by peer and sequence (the outbox at start). */
  allPending(): PendingMessage[] {
    return this.store.stmt(
      `SELECT * FROM messages
       WHERE me = ? AND direction = 'out' AND status IN ('queued', 'sent') ORDER BY peer, seq`,
    ).all(this.#me).map((r) =>
      pendingOf(
        r,
        // A file's payload has no secret text: at most an end's reason code, in clear.
        typeof r.file === "string"
          ? new TextDecoder().decode(r.body as Uint8Array)
          : this.#open(r.body as Uint8Array, r.id as string),
      )
    );
  }

  /** Marks `queued` messages `sent` (the relay handed them to the peer's session). */
  markSent(
    ms: { id: string; peer: string; seq: number; carrier?: boolean; file?: string }[],
  ): void {
    const upd = this.store.stmt(
      "UPDATE messages SET status = 'sent' WHERE id = ? AND status = 'queued'",
    );
    for (const m of ms) {
      if (Number(upd.run(m.id).changes) === 1 && !silent(m)) {
        this.journal.append("status", { id: m.id, to: m.peer, status: "sent", seq: m.seq });
      }
    }
  }

  /** Marks the given messages to `peer` delivered (an end-to-end ack covered them). */
  markDelivered(
    peer: string,
    ms: { id: string; seq: number; carrier?: boolean; file?: string; gm?: string }[],
  ): void {
    const upd = this.store.stmt(
      "UPDATE messages SET status = 'delivered' WHERE id = ? AND status IN ('queued', 'sent')",
    );
    for (const m of ms) {
      if (Number(upd.run(m.id).changes) === 1 && !silent(m)) {
        this.journal.append("status", { id: m.id, to: peer, status: "delivered", seq: m.seq });
      }
    }
    settleGroups(this, ms);
  }

  /**
   * Marks a message failed with a reason, unless it is no longer undelivered (delivered or
   * failed meanwhile: then nothing changes and false is returned).
   */
  markFailed(
    m: { id: string; peer: string; seq: number; carrier?: boolean; file?: string },
    reason: string,
  ): boolean {
    const r = this.store.stmt(
      `UPDATE messages SET status = 'failed', reason = ? WHERE id = ? AND direction = 'out'
       AND status IN ('queued', 'sent')`,
    ).run(reason, m.id);
    if (Number(r.changes) !== 1) return false;
    if (silent(m)) return true;
    this.journal.append("status", { id: m.id, to: m.peer, status: "failed", seq: m.seq, reason });
    return true;
  }

  /**
   * Cancels an outgoing message not yet delivered: `failed` with reason `cancelled`. Returns
   * false when it had failed already (left as it was); throws not_found, bad_request for an
   * incoming message, already_delivered.
   */
  cancel(id: string): boolean {
    const r = this.store.stmt(
      "SELECT peer, seq, direction, status FROM messages WHERE id = ? AND me = ?",
    ).get(id, this.#me) as
      | { peer: string; seq: number; direction: string; status: string }
      | undefined;
    if (!r) throw new ServiceError("not_found", `No message with id ${id.slice(0, 80)}`);
    if (r.direction !== "out") {
      throw new ServiceError(
        "bad_request",
        `${id} is an incoming message; only a message you sent can be cancelled`,
      );
    }
    if (r.status === "delivered") {
      throw new ServiceError("already_delivered", `${id} was delivered already`);
    }
    if (r.status === "failed") return false;
    return this.markFailed({ id, peer: r.peer, seq: Number(r.seq) }, "cancelled");
  }

  /** Messages with `peer`, either way, other than outgoing ones failed with `reason`. */
  countOtherThanFailed(peer: string, reason: string): number {
    return Number(
      (this.store.stmt(
        `SELECT count(*) AS n FROM messages WHERE me = ? AND peer = ?
         AND NOT (direction = 'out' AND status = 'failed' AND reason IS ?)`,
      ).get(this.#me, peer, reason) as { n: number }).n,
    );
  }

  /** The next sequence number expected from `peer`. */
  nextRecvSeq(peer: string): number {
    return Number(this.#peerRow(peer).next_recv_seq);
  }

  /** Incoming messages stored from `peer`. */
  countFrom(peer: string): number {
    return Number(
      (this.store.stmt(
        "SELECT count(*) AS n FROM messages WHERE me = ? AND peer = ? AND direction = 'in'",
      ).get(this.#me, peer) as { n: number }).n,
    );
  }

  /** The text of the latest message from `peer`, if any. */
  lastFrom(peer: string): string | null {
    const r = this.store.stmt(
      `SELECT id, body FROM messages WHERE me = ? AND peer = ? AND direction = 'in'
       ORDER BY seq DESC LIMIT 1`,
    ).get(this.#me, peer) as { id: string; body: Uint8Array } | undefined;
    return r ? this.#open(r.body, r.id) : null;
  }

  /**
   * Forgets a peer's incoming messages and sequence numbers (a request declined, dropped or
   * blocked); outgoing history is kept. Their journal events (`request`, `message`: they hold the
   * texts) go with them, so what was deleted is in no file once the WAL is checkpointed (README,
   * "Deleted means gone from the files"). Returns how many messages went.
   */
  forgetIncoming(peer: string): number {
    this.store.stmt(
      `DELETE FROM events WHERE id IN (SELECT event_id FROM messages
       WHERE me = ? AND peer = ? AND direction = 'in' AND event_id IS NOT NULL)`,
    ).run(this.#me, peer);
    const r = this.store.stmt(
      "DELETE FROM messages WHERE me = ? AND peer = ? AND direction = 'in'",
    ).run(this.#me, peer);
    this.store.stmt("DELETE FROM peers WHERE me = ? AND peer = ? AND next_send_seq = 1")
      .run(this.#me, peer);
    this.store.stmt("UPDATE peers SET next_recv_seq = 1 WHERE me = ? AND peer = ?")
      .run(this.#me, peer);
    return Number(r.changes);
  }

  /**
   * Stores an incoming message if it is the next in sequence; earlier ones are duplicates and
   * later ones are a gap (the sender resends from the gap, so the order holds). From a
   * requester (`request`) the event is a `request`, and at most MAX_REQUEST_MESSAGES are kept.
   * A `carrier` (a rotation statement's, with no text) takes its number and stores nothing.
   */
  receive(
    peer: string,
    m: GroupReceived,
    now: number,
    request = false,
    carrier = false,
    fromName: string | null = null,
  ): ReceiveOutcome {
    return receive(this, peer, m, now, request, carrier, fromName);
  }
}
