/**
 * Contacts' identity keys: pinning a key on first contact and the verified flag. Used only by
 * contacts.ts.
 *
 * @module
 */
import { toBase64Url } from "../protocol/bytes.ts";
import { idMatchesKey, parseId } from "../protocol/identity.ts";
import type { ContactRow } from "./_contacts_rows.ts";
import type { Contacts } from "./contacts.ts";
import { ServiceError } from "./service.ts";

/**
 * Contacts.pin: pins `key` for `id` if none is pinned; throws key_mismatch. `forget` drops a
 * row from the contacts' cache.
 */
export function pin(
  contacts: Contacts,
  forget: (id: string) => void,
  id: string,
  key: Uint8Array,
): void {
  if (!idMatchesKey(parseId(id), key)) {
    throw new ServiceError("key_mismatch", `The identity key does not match ${id}`);
  }
  const c = contacts.get(id);
  if (!c) return;
  forget(id);
  if (c.identityKey) {
    if (toBase64Url(c.identityKey) !== toBase64Url(key)) {
      throw new ServiceError("key_mismatch", `A different key is pinned for ${id}`);
    }
    return;
  }
  contacts.store.stmt("UPDATE contacts SET identity_key = ? WHERE me = ? AND id = ?").run(
    toBase64Url(key),
    contacts.self.idText,
    id,
  );
}

/**
 * Contacts.verify: sets the verified flag; either way the user has decided on a changed key
 * (`keyChanged` is cleared: sending resumes). `forget` drops a row from the contacts' cache.
 */
export function verify(
  contacts: Contacts,
  forget: (id: string) => void,
  idOrName: string,
  verified: boolean,
): ContactRow {
  const id = contacts.resolve(idOrName);
  const c = contacts.get(id);
  forget(id);
  if (!c || c.kind !== "contact") {
    throw new ServiceError("recipient_unknown", `${id} is not a contact`);
  }
  if (verified && !c.identityKey) {
    throw new ServiceError(
      "bad_request",
      `No key is known for ${id} yet; exchange a message first`,
    );
  }
  contacts.store.stmt(
    "UPDATE contacts SET verified = ?, key_changed = 0 WHERE me = ? AND id = ?",
  ).run(
    verified ? 1 : 0,
    contacts.self.idText,
    id,
  );
  return contacts.get(id)!;
}
