/**
 * The engine's groups (protocol/README.md, section 11.11): creating one, changing its membership
 * (a statement signed by this identity, applied here by the same state machine as everywhere and
 * sent to every member of the old and the new list), and sending to it (one copy per current
 * member). Used only by engine.ts and _engine_send.ts.
 *
 * @module
 */
import { toHex } from "../protocol/bytes.ts";
import { PAD_BUCKETS } from "../protocol/constants.ts";
import { encodePayload } from "../protocol/payload.ts";
import { makeGroupChange, parseGroupChange } from "../protocol/group.ts";
import { parseId } from "../protocol/identity.ts";
import { lookupKey } from "./_engine_send.ts";
import type { EngineParts } from "./_engine_parts.ts";
import { groupEvent, queueChange, queueGroupMessage } from "./_groups_out.ts";
import { applyChange, diff } from "./_groups_state.ts";
import { groupMessage, settleGroups } from "./_groups_status.ts";
import { groupHistory } from "./_groups_history.ts";
import { type GroupRow, Groups, MAX_GROUPS } from "./groups.ts";
import type { PendingMessage } from "./messages.ts";
import { checkOutgoing } from "./outgoing.ts";
import {
  BUSY_RETRY_AFTER_S,
  type GroupRecord,
  type MessageRecord,
  type MessagesQuery,
  ServiceError,
} from "./service.ts";

export { groupMessage };

/** The groups of the current identity. */
export function groupsOf(p: EngineParts): Groups {
  return new Groups(p.store, p.self);
}

/** Resolves members (ids or contact names) to ids, without this identity, keys looked up. */
async function members(p: EngineParts, names: string[]): Promise<string[]> {
  const ids = [...new Set(names.map((n) => p.contacts.resolve(n)))];
  if (ids.includes(p.self.idText)) {
    throw new ServiceError("bad_request", "You are in every group you make; do not list yourself");
  }
  for (const id of ids) if (!p.contacts.get(id)?.identityKey) await lookupKey(p, id);
  return ids;
}

/** After the write that queued `ms` committed: into the outbox, and off they go. */
function go(p: EngineParts, ms: PendingMessage[]): void {
  for (const m of ms) p.outbox.add(m);
  const peers = [...new Set(ms.map((m) => m.peer))];
  if (peers.length > 0) p.relay()?.watch(peers.map(parseId));
  for (const peer of peers) p.delivery.kick(peer);
}

/**
 * Signs the change of `g` (undefined: a new group `id`) to `next`, applies it and queues it to
 * every member of the old and the new list but this identity.
 */
async function change(
  p: EngineParts,
  id: string,
  g: GroupRow | undefined,
  next: { members: string[]; admins: string[] },
  name?: string,
): Promise<GroupRecord> {
  const me = p.self.idText;
  const body = { group: id, epoch: (g?.epoch ?? 0) + 1, createdMs: p.now(), ...next };
  const bytes = await makeGroupChange(
    p.self.identity.signing,
    g ? { ...body, prev: g.hash } : body,
  );
  const c = parseGroupChange(bytes);
  const { row, queued } = await p.store.write(() => {
    const groups = groupsOf(p);
    const held = groups.get(id);
    if ((held?.epoch ?? 0) !== (g?.epoch ?? 0)) {
      throw new ServiceError(
        "busy",
        `Group ${id} changed meanwhile; retry in ${BUSY_RETRY_AFTER_S} s`,
      );
    }
    const s = applyChange(held, c);
    const row = groups.save(s, bytes, p.now());
    if (name !== undefined) groups.setName(id, name);
    const to = [...new Set([...(held?.members ?? []), ...s.members])]
      .filter((m) => m !== me && p.contacts.kindOf(m) !== "blocked");
    for (const m of to) p.contacts.ensure(m);
    const queued = queueChange(p.messages, to, groups.chain(id), p.now());
    const kind = !held ? "created" : s.members.includes(me) ? "changed" : "left";
    if (kind === "left") groups.markLeft(id);
    const named = groups.get(id)!;
    groupEvent(p.journal, groups, named, kind, me, diff(held, s));
    return { row: named ?? row, queued };
  });
  go(p, queued);
  return groupsOf(p).record(row);
}

/** Creates a group (Engine.createGroup). */
export async function createGroup(
  p: EngineParts,
  req: { name: string; members: string[] },
): Promise<GroupRecord> {
  if (groupsOf(p).byName(req.name)) {
    throw new ServiceError("name_taken", `A group is named "${req.name}" already`);
  }
  const ids = await members(p, req.members);
  if (ids.length > 99) throw new ServiceError("bad_request", "A group has at most 100 members");
  if (groupsOf(p).count() >= MAX_GROUPS) {
    throw new ServiceError("bad_request", `You hold ${MAX_GROUPS} groups, the most there can be`);
  }
  const id = toHex(crypto.getRandomValues(new Uint8Array(16)));
  const me = p.self.idText;
  return await change(p, id, undefined, { members: [me, ...ids], admins: [me] }, req.name);
}

function adminOf(p: EngineParts, idOrName: string): GroupRow {
  const g = groupsOf(p).resolve(idOrName);
  if (g.state !== "member") {
    throw new ServiceError("bad_request", `You are no member of ${idOrName}`);
  }
  if (!g.admins.includes(p.self.idText)) {
    throw new ServiceError("bad_request", `You are no admin of ${idOrName}; ask one of its admins`);
  }
  return g;
}

/** Adds members, or names admins (Engine.addGroupMembers). */
export async function addGroupMembers(
  p: EngineParts,
  idOrName: string,
  req: { members: string[]; admin?: boolean },
): Promise<GroupRecord> {
  const g = adminOf(p, idOrName);
  const ids = await members(p, req.members);
  const all = [...g.members, ...ids.filter((m) => !g.members.includes(m))];
  if (all.length > 100) throw new ServiceError("bad_request", "A group has at most 100 members");
  const admins = req.admin ? [...new Set([...g.admins, ...ids])] : g.admins;
  if (all.length === g.members.length && admins.length === g.admins.length) {
    throw new ServiceError("bad_request", "They are members already");
  }
  return await change(p, g.group, g, { members: all, admins });
}

/** Removes a member (Engine.removeGroupMember). */
export async function removeGroupMember(
  p: EngineParts,
  idOrName: string,
  member: string,
): Promise<GroupRecord> {
  const g = adminOf(p, idOrName);
  const id = p.contacts.resolve(member);
  if (id === p.self.idText) throw new ServiceError("bad_request", "To leave a group, leave it");
  if (!g.members.includes(id)) throw new ServiceError("not_found", `${member} is no member`);
  return await change(p, g.group, g, {
    members: g.members.filter((m) => m !== id),
    admins: g.admins.filter((m) => m !== id),
  });
}

/** Leaves a group (Engine.leaveGroup): a statement of this identity's own removal. */
export async function leaveGroup(p: EngineParts, idOrName: string): Promise<GroupRecord> {
  const g = groupsOf(p).resolve(idOrName);
  if (g.state !== "member") {
    throw new ServiceError("bad_request", `You are no member of ${idOrName}`);
  }
  const me = p.self.idText;
  return await change(p, g.group, g, {
    members: g.members.filter((m) => m !== me),
    admins: g.admins.filter((m) => m !== me),
  });
}

/** Names a group for this identity (Engine.nameGroup). */
export async function nameGroup(
  p: EngineParts,
  idOrName: string,
  name: string | null,
): Promise<GroupRecord> {
  return await p.store.write(() => {
    const groups = groupsOf(p);
    const g = groups.resolve(idOrName);
    groups.setName(g.group, name);
    return groups.record(groups.get(g.group)!);
  });
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
  const groups = groupsOf(p);
  return /^[0-9a-f]{32}$/.test(to) ? groups.get(to) : groups.byName(to);
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
