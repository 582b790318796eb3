/**
 * The engine's group messages (protocol/README.md, section 11.11): sending one (a copy per current
 * member), cancelling it (every copy not yet delivered), and listing a group's conversation. Used
 * only by _engine_groups.ts, which re-exports these for engine.ts and _engine_send.ts.
 *
 * @module
 */
import { PAD_BUCKETS } from "../protocol/constants.ts";
import { isIdText, parseId } from "../protocol/identity.ts";
import { encodePayload } from "../protocol/payload.ts";
import { lookupKey } from "./_engine_send.ts";
import type { EngineParts } from "./_engine_parts.ts";
import { queueGroupMessage } from "./_groups_out.ts";
import { groupHistory } from "./_groups_history.ts";
import { groupMessage, settleGroups } from "./_groups_status.ts";
import { type GroupRow, Groups } from "./groups.ts";
import type { PendingMessage } from "./messages.ts";
import { checkOutgoing } from "./outgoing.ts";
import {
  BUSY_RETRY_AFTER_S,
  type MessageRecord,
  type MessagesQuery,
  ServiceError,
} from "./service.ts";

function groupsOf(p: EngineParts): Groups {
  return new Groups(p.store, p.self);
}

/** After the write that queued `ms` committed: into the outbox, and off they go. */
export function go(p: EngineParts, ms: PendingMessage[]): void {
  for (const m of ms) p.outbox.add(m);
  const peers = [...new Set(ms.map((m) => m.peer))];
  if (peers.length > 0) p.relay()?.watch(peers.map(parseId));
  for (const peer of peers) p.delivery.kick(peer);
}

/**
 * Cancels a group message (Engine.cancelMessage): every copy not yet delivered is cancelled
 * (Delivery.cancel); already_delivered when every copy was. The message is then `failed` with
 * the members whose copy was cancelled as `missing`.
 */
export async function cancelGroupMessage(p: EngineParts, id: string): Promise<MessageRecord> {
  const copies = groupMessage(p.messages, id)!.members ?? [];
  if (copies.every((c) => c.status === "delivered")) {
    throw new ServiceError("already_delivered", `${id} was delivered to every member already`);
  }
  const rows = p.store.stmt(
    "SELECT id FROM messages WHERE gmsg = ? AND me = ? AND status IN ('queued', 'sent')",
  ).all(id, p.self.idText) as { id: string }[];
  for (const r of rows) {
    await p.delivery.cancel(r.id).catch((e) => {
      if ((e as ServiceError).code !== "already_delivered") throw e;
    });
  }
  await p.store.write(() => settleGroups(p.messages, [{ gm: id }]));
  return groupMessage(p.messages, id)!;
}

/** Messages (Engine.messages): with a peer, with a group (its name or id), or all. */
export function listMessages(p: EngineParts, q: MessagesQuery): MessageRecord[] {
  const base = {
    since: q.since ?? 0,
    sinceTs: q.sinceTs ?? 0,
    limit: q.limit ?? 100,
    desc: q.order === "desc",
  };
  const g = q.with !== undefined ? groupTo(p, q.with) : undefined;
  if (g) return groupHistory(p.messages, g.group, base);
  const peer = q.with !== undefined ? p.contacts.resolve(q.with) : undefined;
  return p.messages.list({ peer, ...base });
}

/** The group `to` names (a name or an id), if any. */
export function groupTo(p: EngineParts, to: string): GroupRow | undefined {
  if (/^[0-9a-f]{32}$/.test(to)) return groupsOf(p).get(to);
  // A client id is never a group's name (checkName refuses those): no keyed index to compute
  // and no query on the path of every send to an id (4.8 % of daemon A's time, profiled).
  if (isIdText(to)) return undefined;
  return groupsOf(p).byName(to);
}

/** Sends a message to every current member of `g` but this identity (Engine.send). */
export async function sendGroup(
  p: EngineParts,
  g: GroupRow,
  req: { text: string; idempotencyKey?: string },
): Promise<MessageRecord> {
  checkOutgoing(req.text, req.idempotencyKey);
  if (!fitsWithGroupFields(req.text)) {
    throw new ServiceError(
      "text_too_long",
      "The text does not fit one group message once encoded (many quotes or control characters?)",
    );
  }
  if (g.state !== "member") {
    throw new ServiceError("bad_request", `You are no member of ${g.name ?? g.group}`);
  }
  const key = req.idempotencyKey;
  const prior = key === undefined ? undefined : idem(p, key);
  if (prior) return prior;
  if (p.outbox.full) {
    throw new ServiceError("busy", `The outbox is full; retry in ${BUSY_RETRY_AFTER_S} s`);
  }
  const wait = p.backlog.room(g.members.filter((m) => m !== p.self.idText)); // _backlog.ts
  if (wait) await wait;
  for (const m of g.members) {
    if (m !== p.self.idText && !p.contacts.get(m)?.identityKey) await lookupKey(p, m);
  }
  const { copies, record } = await p.store.write(() => {
    const again = key === undefined ? undefined : idem(p, key);
    if (again) return { copies: [], record: again };
    const held = groupsOf(p).get(g.group)!;
    // A member this identity blocked gets no copy.
    const to = held.members.filter((m) => p.contacts.kindOf(m) !== "blocked");
    for (const m of to) if (m !== p.self.idText) p.contacts.ensure(m);
    return queueGroupMessage(p.messages, { ...held, members: to }, req.text, key, p.now());
  });
  go(p, copies);
  return record;
}

/** True when a copy of `text` fits the largest padding class with the group fields at their longest. */
function fitsWithGroupFields(text: string): boolean {
  const big = Number.MAX_SAFE_INTEGER, uuid = "00000000-0000-0000-0000-000000000000";
  const worst = encodePayload({
    t: "m",
    id: uuid,
    seq: big,
    ts: big,
    text,
    floor: big,
    g: "0".repeat(32),
    ge: big,
    gm: uuid,
  });
  return 4 + worst.length <= PAD_BUCKETS[PAD_BUCKETS.length - 1]!;
}

function idem(p: EngineParts, key: string): MessageRecord | undefined {
  const r = p.store.stmt("SELECT id FROM group_msgs WHERE me = ? AND idem_key = ?")
    .get(p.self.idText, key) as { id: string } | undefined;
  return r ? groupMessage(p.messages, r.id) : undefined;
}
