/**
 * The engine's groups (protocol/README.md, section 11.11): creating one, changing its membership
 * (a statement signed by this identity, applied here by the same state machine as everywhere and
 * sent to every member of the old and the new list), and sending to it (one copy per current
 * member). Used only by engine.ts and _engine_send.ts.
 *
 * @module
 */
import { toHex } from "../protocol/bytes.ts";
import { makeGroupChange, parseGroupChange } from "../protocol/group.ts";
import { isIdText } from "../protocol/identity.ts";
import { lookupKey } from "./_engine_send.ts";
import type { EngineParts } from "./_engine_parts.ts";
import { groupEvent, queueChange } from "./_groups_out.ts";
import { applyChange, diff } from "./_groups_state.ts";
import { groupMessage } from "./_groups_status.ts";
import { go } from "./_engine_group_send.ts";
import { type GroupRow, Groups, MAX_GROUPS } from "./groups.ts";
import { checkName } from "./contacts.ts";
import { BUSY_RETRY_AFTER_S, type GroupRecord, ServiceError } from "./service.ts";

export { groupMessage };
export { cancelGroupMessage, groupTo, listMessages, sendGroup } from "./_engine_group_send.ts";

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

/** Refuses a group name a contact holds (`send NAME` would not know whom it means). */
function freeName(p: EngineParts, name: string): void {
  if (isIdText(name)) return; // not a name at all: checkName says so
  let holder: string | undefined;
  try {
    holder = p.contacts.resolve(name);
  } catch {
    return;
  }
  throw new ServiceError(
    "name_taken",
    `A contact (${holder}) is named "${name}"; give the group another name`,
  );
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
  freeName(p, req.name);
  if (groupsOf(p).byName(req.name)) {
    throw new ServiceError("name_taken", `A group is named "${req.name}" already`);
  }
  checkName(req.name, "group");
  const ids = await members(p, req.members);
  if (ids.length === 0) {
    throw new ServiceError("bad_request", "A group needs at least one member besides you");
  }
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
  const members = g.members.filter((m) => m !== me);
  const admins = g.admins.filter((m) => m !== me);
  // The last admin leaving names the first remaining member admin (its statement is still an
  // admin's): a group without one could never change again.
  if (admins.length === 0 && members.length > 0) admins.push(members[0]!);
  return await change(p, g.group, g, { members, admins });
}

/** Names a group for this identity (Engine.nameGroup). */
export async function nameGroup(
  p: EngineParts,
  idOrName: string,
  name: string | null,
): Promise<GroupRecord> {
  if (name !== null) freeName(p, name);
  return await p.store.write(() => {
    const groups = groupsOf(p);
    const g = groups.resolve(idOrName);
    groups.setName(g.group, name);
    return groups.record(groups.get(g.group)!);
  });
}
