/**
 * What an opened `m` payload does at the receiver (protocol/README.md, section 11.5), inside the
 * write that stores it: a blocked sender's is dropped; a rotation statement it carries is
 * applied or refused first (section 3.1, _rotation_in.ts), so that a contact who moved to this
 * sender's id is that contact already when the message is stored; a stranger's becomes a message
 * request. A carrier (a statement with no text) takes its sequence number and stores nothing.
 * A group change or message (`gc`, `g`) is the group's (_groups_in.ts), from a stranger too.
 *
 * @module
 */
import type { Payload } from "../protocol/payload.ts";
import type { DeliveryDeps } from "./delivery.ts";
import { admitGroupMessage, receiveGroupChange } from "./_groups_in.ts";
import { receiveRotation } from "./_rotation_in.ts";

/** Stores an `m` payload from `peer`; true when it should be acknowledged. */
export function receiveMessage(
  d: DeliveryDeps,
  peer: string,
  p: Extract<Payload, { t: "m" }>,
  now: number,
): boolean {
  if (d.contacts.kindOf(peer) === "blocked") return false;
  if (p.rot !== undefined) receiveRotation(d, peer, p.rot, now);
  const kind = d.contacts.kindOf(peer);
  if (p.gc !== undefined || p.g !== undefined) {
    // A group change, or a group message (section 11.11, _groups_in.ts): once in sequence.
    if (p.gc !== undefined) {
      if (d.messages.receive(peer, p, now, false, true) === "stored") {
        receiveGroupChange(d, peer, p.gc, now);
      }
      return true;
    }
    const admitted = admitGroupMessage(d, peer, p, now);
    if (admitted === "wait") return false; // this member is behind the sender's epoch
    // Not admitted: it takes its sequence number (acknowledged) and is dropped.
    if (admitted === "drop") return d.messages.receive(peer, p, now, false, true) !== "held";
    const g = { ...p, gname: admitted.name };
    return d.messages.receive(peer, g, now, false, false, nameOf(d, peer)) !== "held";
  }
  const carrier = p.rot !== undefined && p.text === "";
  // Someone who is not a contact writes: a message request, not a new contact.
  if (kind === undefined && !carrier) d.requests.admit(peer);
  return d.messages.receive(peer, p, now, kind !== "contact", carrier, nameOf(d, peer)) !== "held";
}

/** The sender's name for the event: a contact's, from the cached row (no lookup per message). */
function nameOf(d: DeliveryDeps, peer: string): string | null {
  return d.contacts.get(peer)?.name ?? null;
}
