/**
 * The engine's sending: the checks, the idempotency replay, the key lookup of a new peer and the
 * accepting write. Used only by engine.ts and its `_engine_*.ts` helpers.
 *
 * @module
 */
import { parseId } from "../protocol/identity.ts";
import type { Delivery } from "./delivery.ts";
import { checkOutgoing, lookupPeerKey } from "./outgoing.ts";
import type { EngineParts } from "./_engine_parts.ts";
import { groupTo, sendGroup } from "./_engine_groups.ts";
import {
  BUSY_RETRY_AFTER_S,
  type MessageRecord,
  OVERLOAD_RETRY_AFTER_S,
  ServiceError,
} from "./service.ts";

/**
 * Most sends in progress at once (accepted by the API, not yet answered): past it a send is
 * refused at once as `busy` (503, Retry-After 1 s) instead of waiting. Why 128: a healthy
 * daemon answers a send within one group commit (a few ms), so even at its capacity (~2,000/s
 * here) it has a few dozen in progress, and a script with a pool of dozens never meets the
 * bound; under overload the excess is refused for the cost of a lookup instead of queueing
 * behind the rest (deno task bench, overload_rss_growth), so memory and answer times stay flat.
 */
export const MAX_SENDS_IN_FLIGHT = 128;

/** Sends in progress, per engine (see MAX_SENDS_IN_FLIGHT). */
const inFlight = new WeakMap<EngineParts, number>();

/** Throws `busy` (Retry-After 1 s) when MAX_SENDS_IN_FLIGHT sends are in progress. */
export function checkSendCapacity(p: EngineParts): void {
  const n = inFlight.get(p) ?? 0;
  if (n < MAX_SENDS_IN_FLIGHT) return;
  throw new ServiceError(
    "busy",
    `The daemon is at capacity (${n} sends in progress); retry in ${OVERLOAD_RETRY_AFTER_S} s`,
    OVERLOAD_RETRY_AFTER_S,
  );
}

/** Accepts a message to send (Engine.send), unless MAX_SENDS_IN_FLIGHT are in progress. */
export async function send(
  p: EngineParts,
  req: { to: string; text: string; idempotencyKey?: string },
): Promise<MessageRecord> {
  checkSendCapacity(p);
  inFlight.set(p, (inFlight.get(p) ?? 0) + 1);
  try {
    return await accept(p, req);
  } finally {
    inFlight.set(p, (inFlight.get(p) ?? 1) - 1);
  }
}

async function accept(
  p: EngineParts,
  req: { to: string; text: string; idempotencyKey?: string },
): Promise<MessageRecord> {
  const key = req.idempotencyKey;
  checkOutgoing(req.text, key);
  const group = groupTo(p, req.to); // a group's name or id: one copy per member
  if (group) return await sendGroup(p, group, req);
  const peer = p.contacts.resolve(req.to);
  if (peer === p.self.idText) {
    throw new ServiceError("bad_request", "Cannot send a message to yourself");
  }
  refuseKeyChange(p, peer);
  if (key !== undefined) {
    const prior = p.messages.byIdempotencyKey(key);
    if (prior) return sameMessage(prior, peer, req.text);
  }
  if (p.outbox.full) {
    throw new ServiceError(
      "busy",
      `The outbox is full (${p.outbox.size} undelivered); retry in ${BUSY_RETRY_AFTER_S} s`,
    );
  }
  const wait = p.backlog.room([peer]); // backpressure: a peer online, many pending to it
  if (wait) await wait;
  if (!p.contacts.get(peer)?.identityKey) await lookupKey(p, peer);
  const me = p.self.idText;
  let sealed: ReturnType<Delivery["sealAccepted"]>;
  const { m, eventId, replay } = await p.store.write(() => {
    sealed?.cancel(); // the operation runs again (store.ts): the first run's seal is void
    sealed = undefined;
    if (key !== undefined) {
      const again = p.messages.byIdempotencyKey(key); // accepted meanwhile
      if (again) return { m: undefined, eventId: 0, replay: again };
    }
    p.contacts.ensure(peer);
    // While the peer has not acknowledged our rotation, each message carries it (rotation.ts).
    const rot = p.outbox.carrier(peer)?.rot;
    const accepted = p.messages.accept(peer, req.text, key, p.now(), rot);
    // Sealed in this same transaction when it can go at once (see Delivery.sealAccepted).
    sealed = p.delivery.sealAccepted(accepted.m);
    return { ...accepted, replay: undefined };
  }).catch((e) => {
    sealed?.cancel();
    throw e;
  });
  const go = sealed as ReturnType<Delivery["sealAccepted"]>;
  if (replay) return sameMessage(replay, peer, req.text);
  if (p.self.idText !== me) {
    go?.cancel();
    throw new ServiceError("internal", "The identity changed");
  }
  p.outbox.add(m!);
  p.relay()?.watch([parseId(peer)]);
  if (go) go.go();
  else p.delivery.kick(peer);
  return {
    id: m!.id,
    direction: "out",
    peer,
    peer_name: p.contacts.get(peer)?.name ?? null,
    text: m!.text,
    ts: m!.ts,
    seq: m!.seq,
    status: "queued",
    event_id: eventId,
  };
}

function sameMessage(prior: MessageRecord, peer: string, text: string): MessageRecord {
  if (prior.peer !== peer || prior.text !== text) {
    throw new ServiceError(
      "idempotency_conflict",
      "This idempotency key was used for another message",
    );
  }
  return prior;
}

/**
 * Refuses a send to a verified contact whose key changed (a rotation) until the user decided:
 * the statement was signed by the old key, but whoever holds that key could have made it.
 */
export function refuseKeyChange(p: EngineParts, peer: string): void {
  const c = p.contacts.get(peer);
  if (!c?.keyChanged) return;
  const label = c.name ?? peer;
  throw new ServiceError(
    "key_changed",
    `${label} was verified and now uses a new key (id ${peer}): nothing is sent to it until ` +
      `you compare the safety number and run 'schied contacts verify ${label}'`,
  );
}

/** Pins a new peer's key from the relay's registry (see lookupPeerKey). */
export async function lookupKey(p: EngineParts, peer: string): Promise<void> {
  const address = p.relayAddress();
  if (!address) return;
  const key = await lookupPeerKey(address, peer);
  if (key) await p.store.write(() => p.contacts.pin(peer, key));
}
