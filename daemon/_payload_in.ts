/**
 * What an opened `m` payload does at the receiver (protocol/README.md, section 11.5), inside the
 * write that stores it: a blocked sender's is dropped, a stranger's becomes a message request.
 *
 * @module
 */
import type { Payload } from "../protocol/payload.ts";
import type { DeliveryDeps } from "./delivery.ts";

/** Stores an `m` payload from `peer`; true when it should be acknowledged. */
export function receiveMessage(
  d: DeliveryDeps,
  peer: string,
  p: Extract<Payload, { t: "m" }>,
  now: number,
): boolean {
  const kind = d.contacts.kindOf(peer);
  if (kind === "blocked") return false;
  // Someone who is not a contact writes: a message request, not a new contact.
  if (kind === undefined) d.requests.admit(peer);
  return d.messages.receive(peer, p, now, kind !== "contact") !== "held";
}
