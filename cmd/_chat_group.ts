/**
 * The group side of `schied chat` (protocol/README.md, section 11.11): in a group's chat (its
 * `peer` is the group id) a message of the group is shown with its sender, one of another group
 * as a notice; in a one-to-one chat, a group message from the peer is a notice too (it is not
 * part of this conversation). Used only by chat.ts.
 *
 * @module
 */
import type { JournalEvent } from "../api/client.ts";
import { paint, peerLabel } from "./_format.ts";
import { escapeText } from "./_output.ts";

/**
 * The line `e` prints in a chat with `peer` (a group's id when `inGroup`), `t` formatting its
 * time; undefined when `e` is not a group's (chat.ts handles it as before).
 */
export function groupLine(
  e: JournalEvent,
  peer: string,
  inGroup: boolean,
  color: boolean,
  t: (ms: number) => string,
): string | undefined {
  if (e.type !== "message" || e.data.group === undefined) return undefined;
  const d = e.data;
  if (inGroup && d.group === peer) {
    return `${t(d.ts)} ${paint(color, 36, peerLabel(d.from, d.from_name))}: ${escapeText(d.text)}`;
  }
  const name = d.group_name ? escapeText(d.group_name) : d.group!;
  return paint(color, 2, `  (new message in group ${name} — schied chat ${name})`);
}
