/**
 * Chat's peer: who `schied chat <id|name>` means (checked before the first line), and the last
 * messages with it, shown when the chat opens.
 *
 * @module
 */
import type { ApiClient, Contact, MessageRecord } from "../api/client.ts";
import { withApi } from "./_context.ts";
import { clock, paint } from "./_format.ts";
import { CliError, escapeText, EXIT } from "./_output.ts";

/** A client id: a version-8 UUID (the syntax protocol/identity.ts checks). */
export const ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * The peer `target` names: a contact (by name or id), else a well-formed id (the daemon checks
 * it at the relay); anything else is refused with exit code 4.
 */
export function resolvePeer(
  target: string,
  contacts: Contact[],
): { id: string; contact?: Contact } {
  const id = target.toLowerCase();
  const c = contacts.find((x) => x.name === target) ?? contacts.find((x) => x.id === id);
  if (c) return { id: c.id, contact: c };
  if (ID_RE.test(id)) return { id };
  throw new CliError(
    `"${target}" is neither a contact nor an id`,
    EXIT.recipient_unknown,
    "'schied contacts' lists your contacts; an id is a version-8 UUID such as 'schied id' prints",
  );
}

/** Most messages one page of GET /messages holds. */
const PAGE = 1000;

/**
 * The last `n` messages with `peer` up to journal position `until` (what came after it arrives
 * as events), oldest first. Pages through GET /messages (oldest first), at most 1,000 pages.
 */
export async function lastMessages(
  api: ApiClient,
  peer: string,
  n: number,
  until: number,
  keep: (m: MessageRecord) => boolean = () => true,
): Promise<MessageRecord[]> {
  if (n === 0) return [];
  const last: MessageRecord[] = [];
  let since = 0;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await withApi(() => api.messages({ with: peer, since, limit: PAGE }));
    for (const m of page) if (m.event_id <= until && keep(m)) last.push(m);
    if (last.length > n) last.splice(0, last.length - n);
    const end = page[page.length - 1];
    if (page.length < PAGE || !end || end.event_id >= until) break;
    since = end.event_id;
  }
  return last;
}

/** `YYYY-MM-DD HH:MM:SS` for a time before today, else `HH:MM:SS`. */
export function stamp(ms: number, now = Date.now()): string {
  const d = new Date(ms);
  if (d.toDateString() === new Date(now).toDateString()) return clock(ms);
  const ymd = [d.getFullYear(), d.getMonth() + 1, d.getDate()].map((x) =>
    String(x).padStart(2, "0")
  ).join("-");
  return `${ymd} ${clock(ms)}`;
}

const MARK: Record<string, string> = { queued: "·", sent: "·", delivered: "✓✓", failed: "✗" };

/** One message of the history as a line. */
export function historyLine(m: MessageRecord, label: string, color: boolean): string {
  const t = paint(color, 2, stamp(m.ts));
  const text = escapeText(m.text);
  if (m.direction === "in") return `${t} ${paint(color, 36, label)}: ${text}`;
  return `${t} ${paint(color, 33, "me")}: ${text} ${MARK[m.status] ?? ""}`.trimEnd();
}
