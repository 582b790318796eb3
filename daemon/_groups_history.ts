/**
 * A group's conversation (`GET /messages?with=GROUP`, `schied history GROUP`): the group messages
 * received (rows of `messages` with `grp`) and those sent (`group_msgs`, each with its members'
 * copies), by journal position. Used only by _engine_groups.ts.
 *
 * @module
 */
import { groupMessage } from "./_groups_status.ts";
import type { Messages } from "./messages.ts";
import type { MessageRecord } from "./service.ts";

/** The query of Messages.list, for one group. */
export interface GroupHistoryQuery {
  since: number;
  sinceTs: number;
  limit: number;
  desc: boolean;
}

/** The messages of group `group`, oldest first (or newest first with `desc`), at most `limit`. */
export function groupHistory(
  messages: Messages,
  group: string,
  q: GroupHistoryQuery,
): MessageRecord[] {
  const me = messages.self.idText;
  const rows = messages.store.stmt(
    `SELECT id, 'in' AS dir, event_id FROM messages WHERE me = ? AND grp = ? AND direction = 'in'
       AND event_id > ? AND created_at >= ?
     UNION ALL SELECT id, 'out' AS dir, event_id FROM group_msgs WHERE me = ? AND grp = ?
       AND event_id > ? AND ts >= ?
     ORDER BY event_id ${q.desc ? "DESC" : "ASC"} LIMIT ?`,
  ).all(me, group, q.since, q.sinceTs, me, group, q.since, q.sinceTs, q.limit) as {
    id: string;
    dir: string;
  }[];
  return rows.map((r) => r.dir === "in" ? messages.get(r.id) : groupMessage(messages, r.id)!);
}
