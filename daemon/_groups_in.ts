/**
 * What an `m` payload's group fields do at the receiver (protocol/README.md, section 11.11),
 * inside the write that stores it. Used only by _payload_in.ts.
 *
 * - A change carrier (`gc`): its statements are verified and applied in order on top of the epoch
 *   held (those already held are skipped); a group not known is taken only from a statement whose
 *   signer is an admin in it, the sender, and a contact. A refusal is journaled (`error`,
 *   `key_mismatch`, naming the check) and changes nothing; an application journals `group`.
 * - A group message (`g`): kept only if this identity holds the group, is a member, the sender is
 *   a member at the epoch held, and `ge` is neither above that epoch nor below the one this
 *   identity joined at. One whose `ge` is above, or whose group is not known here, waits (not
 *   acknowledged: it comes again) for up to GROUP_WAIT_MS; the others are dropped (they still take
 *   their sequence number).
 *
 * @module
 */
import { fromBase64Url } from "../protocol/bytes.ts";
import { type GroupChange, parseGroupChange } from "../protocol/group.ts";
import type { Payload } from "../protocol/payload.ts";
import type { DeliveryDeps } from "./delivery.ts";
import { groupEvent } from "./_groups_out.ts";
import { applyChange, diff } from "./_groups_state.ts";
import { type GroupRow, Groups, MAX_GROUPS } from "./groups.ts";

type M = Extract<Payload, { t: "m" }>;

/** The groups of the identity `d` serves. */
export function groupsOf(d: DeliveryDeps): Groups {
  return new Groups(d.store, d.self);
}

function refuse(d: DeliveryDeps, peer: string, why: string): void {
  d.messages.journal.append("error", {
    code: "key_mismatch",
    message: `Group change from ${peer} refused: ${
      why.replace(/^Cannot parse group change: /, "")
    }`,
    peer,
  });
}

/** Applies the change statements of a carrier from `peer` (see the module doc). */
export function receiveGroupChange(d: DeliveryDeps, peer: string, gc: string[], now: number): void {
  const groups = groupsOf(d);
  let changes: { c: GroupChange; bytes: Uint8Array }[];
  try {
    changes = gc.map((s) => {
      const bytes = fromBase64Url(s);
      return { c: parseGroupChange(bytes), bytes };
    });
  } catch (e) {
    return refuse(d, peer, (e as Error).message);
  }
  const group = changes[changes.length - 1]!.c.group;
  if (changes.some(({ c }) => c.group !== group)) {
    return refuse(d, peer, "the statements of a carrier are of different groups");
  }
  let held: GroupRow | undefined = groups.get(group);
  if (!held || held.state !== "member") {
    // An invitation (or one back, to a group this identity is out of): the last statement
    // alone, from its signer, an admin in it and a contact.
    const { c, bytes } = changes[changes.length - 1]!;
    if (held && c.epoch <= held.epoch) {
      return refuse(d, peer, `epoch ${c.epoch} of group ${group} is not after ${held.epoch}`);
    }
    if (c.signer !== peer) {
      return refuse(
        d,
        peer,
        `group ${group} is unknown here and ${peer} did not sign its epoch ${c.epoch}`,
      );
    }
    if (d.contacts.kindOf(peer) !== "contact") {
      return refuse(d, peer, `an invitation to group ${group} from ${peer}, who is not a contact`);
    }
    if (!held && groups.count() >= MAX_GROUPS) {
      return refuse(d, peer, `an invitation beyond the ${MAX_GROUPS} groups this daemon holds`);
    }
    if (!c.members.includes(d.self.idText)) {
      return refuse(d, peer, `group ${group} at epoch ${c.epoch} does not list this identity`);
    }
    try {
      const s = applyChange(undefined, c);
      const row = groups.save(s, bytes, now);
      groupEvent(d.messages.journal, groups, row, "joined", c.signer, diff(held, s));
    } catch (e) {
      refuse(d, peer, (e as Error).message);
    }
    return;
  }
  const last = changes.length - 1;
  for (let i = 0; i <= last; i++) {
    const { c, bytes } = changes[i]!;
    // Not after the epoch held: the statements before the new one in a carrier are context (a
    // member that joined later never held them); the new one is held already when it came from
    // its signer after another admin's carrier had brought it. Anything else is refused.
    if (c.epoch <= held.epoch && i < last) continue;
    if (c.epoch <= held.epoch && c.signer === peer && groups.holds(group, c.epoch, bytes)) continue;
    let s;
    try {
      s = applyChange(held, c);
    } catch (e) {
      return refuse(d, peer, (e as Error).message);
    }
    const before = held;
    held = groups.save(s, bytes, now);
    const me = d.self.idText;
    const change = c.signer === me && !s.members.includes(me)
      ? "left"
      : !s.members.includes(me)
      ? "removed"
      : before.state !== "member"
      ? "joined"
      : "changed";
    groupEvent(d.messages.journal, groups, held, change, c.signer, diff(before, s));
  }
}

/**
 * How long a group message may wait for the change it needs (see admitGroupMessage). Why 10
 * minutes: the change travels on another stream, whose sender (an admin) may be away for a while;
 * past that, the copy is dropped so that its sender's stream to this member moves on.
 */
export const GROUP_WAIT_MS = 10 * 60 * 1000;

/**
 * When a copy of each (identity, sender, group) first had to wait; bounded. Kept after the wait
 * ran out, so that the sender's later copies of that group are dropped at once rather than each
 * holding its stream for another GROUP_WAIT_MS.
 */
const waiting = new Map<string, number>();

/**
 * What becomes of a group message from `peer` (see the module doc): kept (with the group's local
 * name), dropped, or `wait` — its epoch is after the one held here, or its group is not known here
 * (the invitation may still be on its way on another stream): it is neither stored nor
 * acknowledged, so its sender sends it again, in order with what follows it, and it is judged once
 * this member has caught up; for at most GROUP_WAIT_MS, then it is dropped.
 */
export function admitGroupMessage(
  d: DeliveryDeps,
  peer: string,
  p: M,
  now: number,
): { name: string | null } | "drop" | "wait" {
  const g = groupsOf(d).get(p.g!);
  if (!g || (g.state === "member" && p.ge! > g.epoch)) {
    const key = `${d.self.idText}/${peer}/${p.g}/${p.ge}`;
    if (waiting.size >= 10_000) waiting.clear();
    const since = waiting.get(key) ?? now;
    waiting.set(key, since);
    return now - since < GROUP_WAIT_MS ? "wait" : "drop";
  }
  if (g.state !== "member" || !g.members.includes(peer) || p.ge! < g.joined) return "drop";
  return { name: g.name };
}
