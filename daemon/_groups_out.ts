/**
 * What a group sends (protocol/README.md, section 11.11), inside a store operation: a change
 * carrier to every member of the old and the new list, and a group message as one copy per other
 * member of the current list, each an outgoing row of `messages` numbered on its pair's stream
 * (so the outbox, the pump, acknowledgements and retries are the messages' own). Used by
 * _engine_groups.ts and _groups_in.ts.
 *
 * @module
 */
import type { Journal } from "./journal.ts";
import { SEALED } from "./_migrations.ts";
import type { Messages, PendingMessage } from "./messages.ts";
import type { GroupRow, Groups } from "./groups.ts";
import type { MessageRecord } from "./service.ts";
import { rowId } from "./_ids.ts";

/** Journals a `group` event for a change applied to `row`. */
export function groupEvent(
  journal: Journal,
  groups: Groups,
  row: GroupRow,
  change: "created" | "joined" | "changed" | "removed" | "left",
  by: string,
  d: { added: string[]; removed: string[] },
): number {
  return journal.append("group", {
    change,
    by,
    added: d.added,
    removed: d.removed,
    group: groups.record(row),
  });
}

/** What a queued group payload carries besides its text. */
interface GroupFields {
  text: string;
  g?: string;
  ge?: number;
  gm?: string;
  gc?: string[];
}

/** Queues one payload to `peer`: the next sequence number of the pair, status `queued`. */
export function queueGroupPayload(
  messages: Messages,
  peer: string,
  f: GroupFields,
  now: number,
): PendingMessage {
  const store = messages.store, me = messages.self.idText;
  store.stmt("INSERT INTO peers (me, peer) VALUES (?, ?) ON CONFLICT DO NOTHING").run(me, peer);
  const { seq } = store.stmt(
    `UPDATE peers SET next_send_seq = next_send_seq + 1 WHERE me = ? AND peer = ?
     RETURNING next_send_seq - 1 AS seq`,
  ).get(me, peer) as { seq: number };
  const id = rowId(now);
  store.stmt(
    `INSERT INTO messages (id, me, direction, peer, seq, body, ts, status, created_at, grp, gmsg,
     gep, gc) VALUES (?, ?, 'out', ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)`,
  ).run(
    id,
    me,
    peer,
    Number(seq),
    store.sealer.sealText(f.text, SEALED.body, id),
    now,
    now,
    f.g ?? null,
    f.gm ?? null,
    f.ge ?? null,
    f.gc ? JSON.stringify(f.gc) : null,
  );
  const m: PendingMessage = {
    id,
    peer,
    seq: Number(seq),
    text: f.text,
    ts: now,
    createdAt: now,
    status: "queued",
  };
  if (f.gm !== undefined) Object.assign(m, { g: f.g, ge: f.ge, gm: f.gm });
  if (f.gc) m.gc = f.gc;
  return m;
}

/** Queues the change carrier of `chain` to each of `to`. */
export function queueChange(
  messages: Messages,
  to: string[],
  chain: string[],
  now: number,
): PendingMessage[] {
  return to.map((peer) => queueGroupPayload(messages, peer, { text: "", gc: chain }, now));
}

/**
 * Queues a group message to every member of `g` but this identity: the `group_msgs` row, one copy
 * per member, a `status` event (queued). Returns the copies and the message's record.
 */
export function queueGroupMessage(
  messages: Messages,
  g: GroupRow,
  text: string,
  idemKey: string | undefined,
  now: number,
): { copies: PendingMessage[]; record: MessageRecord } {
  const store = messages.store, me = messages.self.idText;
  const id = rowId(now);
  const to = g.members.filter((m) => m !== me);
  const eventId = messages.journal.append("status", {
    id,
    to: g.group,
    status: "queued",
    seq: 0,
    group: g.group,
  });
  store.stmt(
    `INSERT INTO group_msgs (id, me, grp, epoch, body, ts, status, idem_key, event_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    id,
    me,
    g.group,
    g.epoch,
    store.sealer.sealText(text, SEALED.body, id),
    now,
    to.length === 0 ? "delivered" : "queued",
    idemKey ?? null,
    eventId,
  );
  const copies = to.map((peer) =>
    queueGroupPayload(messages, peer, { text, g: g.group, ge: g.epoch, gm: id }, now)
  );
  return {
    copies,
    record: {
      id,
      direction: "out",
      peer: g.group,
      peer_name: g.name,
      text,
      ts: now,
      seq: 0,
      status: to.length === 0 ? "delivered" : "queued",
      event_id: eventId,
      group: g.group,
      members: to.map((m) => ({ id: m, status: "queued" as const })),
    },
  };
}
