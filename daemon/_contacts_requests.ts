/**
 * Message requests: recording a stranger who wrote first, within MAX_REQUESTS. Used only by
 * contacts.ts, which re-exports MAX_REQUESTS.
 *
 * @module
 */
import type { Contacts } from "./contacts.ts";

/**
 * Pending message requests kept; a new one beyond drops the oldest with its messages. Why 256:
 * far more strangers than anyone reads, and a bound on what strangers can make you store.
 */
export const MAX_REQUESTS = 256;

/**
 * Contacts.request: records a stranger who wrote first as a request (no-op for a contact or a
 * request), dropping the oldest at MAX_REQUESTS. `forget` drops a row from the contacts' cache.
 */
export function request(
  contacts: Contacts,
  forget: (id: string) => void,
  id: string,
): { dropped: string | undefined } {
  const me = contacts.self.idText;
  if (contacts.kindOf(id) !== undefined) return { dropped: undefined };
  forget(id);
  let dropped: string | undefined;
  if (contacts.count("request") >= MAX_REQUESTS) {
    const oldest = contacts.store.stmt(
      "SELECT id FROM contacts WHERE me = ? AND kind = 'request' ORDER BY added_at, id LIMIT 1",
    ).get(me) as { id: string } | undefined;
    if (oldest) {
      dropped = oldest.id;
      forget(dropped);
      contacts.store.stmt("DELETE FROM contacts WHERE me = ? AND id = ?").run(me, dropped);
    }
  }
  contacts.store.stmt("INSERT INTO contacts (me, id, kind, added_at) VALUES (?, ?, 'request', ?)")
    .run(me, id, contacts.now());
  return { dropped };
}
