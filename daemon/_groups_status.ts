/**
 * The delivery status of a group message sent (protocol/README.md, section 11.11): one copy per
 * member, each a row of `messages` with the group message's id in `gmsg`. The message is
 * `delivered` when every copy is (each member's daemon acknowledged its copy end to end), `failed`
 * once no copy is pending and one failed, `sent` while some copy went out, else `queued`; its
 * record lists each member's copy. Used by messages.ts (settleGroups, when copies are marked) and
 * _engine_groups.ts (groupMessage).
 *
 * @module
 */
import { SEALED } from "./_migrations.ts";
import type { Messages } from "./messages.ts";
import type { MessageRecord, MessageStatus } from "./service.ts";

interface Copy {
  peer: string;
  status: MessageStatus;
}

function copiesOf(messages: Messages, gm: string): Copy[] {
  return messages.store.stmt(
    "SELECT peer, status FROM messages WHERE gmsg = ? AND me = ? AND direction = 'out' ORDER BY peer",
  ).all(gm, messages.self.idText) as unknown as Copy[];
}

function overall(copies: Copy[]): MessageStatus {
  if (copies.every((c) => c.status === "delivered")) return "delivered";
  if (copies.some((c) => c.status === "queued" || c.status === "sent")) {
    return copies.some((c) => c.status !== "queued") ? "sent" : "queued";
  }
  return "failed";
}

/**
 * After copies were marked delivered or failed (inside that write): each group message whose
 * status became delivered or failed is stored so, with a `status` event (`to` the group id,
 * `missing` the members whose copy failed).
 */
export function settleGroups(messages: Messages, ms: { gm?: string }[]): void {
  const seen = new Set<string>();
  for (const m of ms) {
    if (m.gm === undefined || seen.has(m.gm)) continue;
    seen.add(m.gm);
    const row = messages.store.stmt(
      "SELECT grp, status FROM group_msgs WHERE id = ? AND me = ?",
    ).get(m.gm, messages.self.idText) as { grp: string; status: string } | undefined;
    if (!row || row.status === "delivered" || row.status === "failed") continue;
    const copies = copiesOf(messages, m.gm);
    const status = overall(copies);
    if (status !== "delivered" && status !== "failed") continue;
    messages.store.stmt("UPDATE group_msgs SET status = ? WHERE id = ?").run(status, m.gm);
    const data: Parameters<typeof messages.journal.append<"status">>[1] = {
      id: m.gm,
      to: row.grp,
      status,
      seq: 0,
      group: row.grp,
    };
    if (status === "failed") {
      data.missing = copies.filter((c) => c.status !== "delivered").map((c) => c.peer);
      data.reason = `not delivered to ${data.missing.length} of ${copies.length} members`;
    }
    messages.journal.append("status", data);
  }
}

/** The record of a group message sent, with each member's copy; undefined for another id. */
export function groupMessage(messages: Messages, id: string): MessageRecord | undefined {
  const r = messages.store.stmt(
    `SELECT g.*, (SELECT name FROM groups WHERE me = g.me AND id = g.grp) AS name
     FROM group_msgs g WHERE g.id = ? AND g.me = ?`,
  ).get(id, messages.self.idText) as Record<string, unknown> | undefined;
  if (!r) return undefined;
  const grp = r.grp as string;
  const name = r.name as Uint8Array | null;
  const copies = copiesOf(messages, id);
  return {
    id,
    direction: "out",
    peer: grp,
    peer_name: name
      ? messages.store.sealer.openText(name, SEALED.group, `${messages.self.idText}/${grp}`)
      : null,
    text: messages.store.sealer.openText(r.body as Uint8Array, SEALED.body, id),
    ts: Number(r.ts),
    seq: 0,
    status: copies.length === 0 ? "delivered" : overall(copies),
    event_id: Number(r.event_id),
    group: grp,
    members: copies.map((c) => ({ id: c.peer, status: c.status })),
  };
}
