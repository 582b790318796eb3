/**
 * The inner payload a queued message is sent as (protocol/README.md, section 11.5). One place,
 * so that every path that seals a message (the pump, the seal at acceptance) sends the same.
 *
 * A message queued while its peer has not acknowledged this identity's rotation statement
 * carries it as `rot` (section 3.1), so that whichever message from the new id the peer opens
 * first moves the contact; a text so long that the statement would not fit the largest padding
 * class goes without it (the carrier, which has no text, always has it).
 *
 * @module
 */
import { PAD_BUCKETS } from "../protocol/constants.ts";
import { encodePayload, type Payload } from "../protocol/payload.ts";
import type { PendingMessage } from "./messages.ts";

/** Most bytes of an encoded payload (the largest padding class less its length prefix). */
const MAX_PAYLOAD = PAD_BUCKETS[PAD_BUCKETS.length - 1]! - 4;

/** The `m` payload of `m`; `floor` is the lowest sequence number still being delivered. */
export function messagePayload(
  m: PendingMessage,
  floor: number,
): Extract<Payload, { t: "m" }> {
  const p: Extract<Payload, { t: "m" }> = {
    t: "m",
    id: m.id,
    seq: m.seq,
    ts: m.ts,
    text: m.text,
    floor,
  };
  if (m.gm !== undefined) Object.assign(p, { g: m.g, ge: m.ge, gm: m.gm });
  if (m.gc !== undefined) p.gc = m.gc;
  if (m.rot === undefined) return p;
  const withRot = { ...p, rot: m.rot };
  if (m.carrier || encodePayload(withRot).length <= MAX_PAYLOAD) return withRot;
  return p;
}
