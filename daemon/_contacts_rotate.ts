/**
 * A contact moved to the new id its rotation statement names (protocol/README.md, section 3.1):
 * the same row, under the new id, with the new key pinned and the verified mark cleared. Used
 * only by contacts.ts.
 *
 * @module
 */
import { toBase64Url } from "../protocol/bytes.ts";
import { idMatchesKey, parseId } from "../protocol/identity.ts";
import { SEALED } from "./_migrations.ts";
import type { ContactRow } from "./_contacts_rows.ts";
import type { Contacts } from "./contacts.ts";
import { ServiceError } from "./service.ts";

/**
 * Contacts.rotate: moves contact `oldId` to `newId` with `newKey` pinned, unverified (and, if it
 * was verified, with its key change held for the user: `keyChanged`). A request row of `newId`
 * (its handshake made one) is replaced. `forget` drops a row from the cache.
 */
export function rotate(
  contacts: Contacts,
  forget: (id: string) => void,
  oldId: string,
  newId: string,
  newKey: Uint8Array,
): ContactRow {
  if (!idMatchesKey(parseId(newId), newKey)) {
    throw new ServiceError("key_mismatch", `The identity key does not match ${newId}`);
  }
  const me = contacts.self.idText, store = contacts.store;
  forget(oldId);
  forget(newId);
  const c = contacts.get(oldId);
  if (c?.kind !== "contact") throw new ServiceError("recipient_unknown", `${oldId} is no contact`);
  store.stmt("DELETE FROM contacts WHERE me = ? AND id = ? AND kind = 'request'").run(me, newId);
  // The name is sealed bound to its row (me/id): sealed again for the new id; its index stays.
  // A verified contact's key change waits for the user (key_changed; a second rotation before
  // the user decided keeps it waiting).
  store.stmt(
    `UPDATE contacts SET id = ?, identity_key = ?, key_changed = (verified = 1 OR key_changed = 1),
       verified = 0, name = ? WHERE me = ? AND id = ?`,
  ).run(
    newId,
    toBase64Url(newKey),
    c.name === null ? null : store.sealer.sealText(c.name, SEALED.name, `${me}/${newId}`),
    me,
    oldId,
  );
  forget(oldId);
  forget(newId);
  return contacts.get(newId)!;
}
