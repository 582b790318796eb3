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
import { BUSY_RETRY_AFTER_S, type MessageRecord, ServiceError } from "./service.ts";

/** Accepts a message to send (Engine.send). */
export async function send(
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

/** Pins a new peer's key from the relay's registry (see lookupPeerKey). */
export async function lookupKey(p: EngineParts, peer: string): Promise<void> {
  const address = p.relayAddress();
  if (!address) return;
  const key = await lookupPeerKey(address, peer);
  if (key) await p.store.write(() => p.contacts.pin(peer, key));
}
