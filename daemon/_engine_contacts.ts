/**
 * The engine's contacts, message requests and blocking: each a store write, then the relay's
 * presence watches brought in line. Used only by engine.ts.
 *
 * @module
 */
import { toBase64Url } from "../protocol/bytes.ts";
import { formatId, parseId } from "../protocol/identity.ts";
import { Contacts } from "./contacts.ts";
import { lookupKey } from "./_engine_send.ts";
import type { EngineParts } from "./_engine_parts.ts";
import { type Contact, type MessageRequest, ServiceError } from "./service.ts";

function contact(p: EngineParts, id: string): Contact {
  const c = p.contacts.get(id)!;
  return {
    id: c.id,
    name: c.name,
    identity_key: c.identityKey ? toBase64Url(c.identityKey) : null,
    verified: c.verified,
    key_changed: c.keyChanged,
    online: p.delivery.online(c.id),
    safety_number: Contacts.safety(p.self.identity.signing.publicKey, c),
  };
}

/** Engine.contacts. */
export function contacts(p: EngineParts): Contact[] {
  return p.contacts.list().map((c) => contact(p, c.id));
}

/** Engine.addContact. */
export async function addContact(
  p: EngineParts,
  req: { id: string; name?: string },
): Promise<Contact> {
  let id: string;
  try {
    id = formatId(parseId(req.id));
  } catch (e) {
    throw new ServiceError("bad_request", (e as Error).message);
  }
  if (id === p.self.idText) throw new ServiceError("bad_request", "You cannot add yourself");
  await p.store.write(() => p.contacts.add(id, req.name ?? null));
  if (!p.contacts.get(id)?.identityKey) {
    await lookupKey(p, id).catch(async (e) => {
      await p.store.write(() => p.contacts.remove(id));
      throw e;
    });
  }
  p.relay()?.watch([parseId(id)]);
  return contact(p, id);
}

/** Engine.removeContact. */
export async function removeContact(p: EngineParts, idOrName: string): Promise<void> {
  const id = await p.store.write(() => p.contacts.remove(idOrName));
  p.relay()?.unwatch([parseId(id)]);
}

/** Engine.verifyContact. */
export async function verifyContact(
  p: EngineParts,
  idOrName: string,
  verified: boolean,
): Promise<Contact> {
  const c = await p.store.write(() => p.contacts.verify(idOrName, verified));
  p.delivery.kick(c.id); // what a held key change kept back goes now
  return contact(p, c.id);
}

/** Engine.requests. */
export function requests(p: EngineParts): MessageRequest[] {
  return p.requests.list();
}

/** Engine.acceptRequest. */
export async function acceptRequest(
  p: EngineParts,
  req: { id: string; name?: string },
): Promise<Contact> {
  const c = await p.store.write(() => {
    const id = p.requests.check(req.id);
    return p.contacts.add(id, req.name ?? null);
  });
  p.relay()?.watch([parseId(c.id)]);
  return contact(p, c.id);
}

/** Engine.declineRequest. */
export async function declineRequest(p: EngineParts, id: string): Promise<void> {
  await p.store.write(() => p.requests.decline(id));
}

/** Engine.block. */
export async function block(p: EngineParts, idOrName: string): Promise<{ id: string }> {
  const { id, failed } = await p.store.write(() => p.requests.block(idOrName));
  p.outbox.remove(failed);
  p.relay()?.unwatch([parseId(id)]);
  return { id };
}

/** Engine.unblock. */
export async function unblock(p: EngineParts, id: string): Promise<void> {
  await p.store.write(() => p.requests.unblock(id));
}

/** Engine.blocked. */
export function blocked(p: EngineParts): string[] {
  return p.contacts.list("blocked").map((c) => c.id);
}
