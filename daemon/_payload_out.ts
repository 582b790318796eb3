/**
 * The inner payload a queued message is sent as (protocol/README.md, section 11.5). One place,
 * so that every path that seals a message (the pump, the seal at acceptance) sends the same.
 *
 * @module
 */
import type { Payload } from "../protocol/payload.ts";
import type { PendingMessage } from "./messages.ts";

/** The `m` payload of `m`; `floor` is the lowest sequence number still being delivered. */
export function messagePayload(
  m: PendingMessage,
  floor: number,
): Extract<Payload, { t: "m" }> {
  return { t: "m", id: m.id, seq: m.seq, ts: m.ts, text: m.text, floor };
}
