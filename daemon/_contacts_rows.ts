/**
 * The contacts table's rows: their kinds, the name rule, and how a stored row is read (its name
 * unsealed) and how contacts are listed. Used only by contacts.ts, which re-exports the types,
 * MAX_NAME_LEN and checkName.
 *
 * @module
 */
import { fromBase64Url } from "../protocol/bytes.ts";
import { isIdText } from "../protocol/identity.ts";
import { SEALED } from "./_migrations.ts";
import type { Sealer } from "./sealer.ts";
import { ServiceError } from "./service.ts";

/** What an id is to this daemon. */
export type ContactKind = "contact" | "request" | "blocked";

/** A contact row. */
export interface ContactRow {
  id: string;
  kind: ContactKind;
  name: string | null;
  identityKey: Uint8Array | null;
  verified: boolean;
  /**
   * The contact was verified and has rotated to a new key since: nothing is sent to it until
   * the user verifies it again or accepts the new key unverified (`contacts verify --no`).
   */
  keyChanged: boolean;
  addedAt: number;
}

/** Longest contact name. */
export const MAX_NAME_LEN = 64;
const NAME_RE = /^[\p{L}\p{N}][\p{L}\p{N}._-]*$/u;

/** Checks a contact name: letters, digits, `.`, `_`, `-`; not an id. */
export function checkName(name: string, what: "contact" | "group" = "contact"): string {
  const n = name.normalize("NFC");
  if (n.length === 0 || n.length > MAX_NAME_LEN || !NAME_RE.test(n) || isIdText(n)) {
    throw new ServiceError(
      "bad_request",
      `Invalid ${what} name "${
        n.slice(0, 80)
      }": use 1–${MAX_NAME_LEN} letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
  return n;
}

/** A stored row of identity `me`, its name unsealed. */
export function contactRow(sealer: Sealer, me: string, r: Record<string, unknown>): ContactRow {
  const id = r.id as string;
  const name = r.name as Uint8Array | null;
  return {
    id,
    kind: r.kind as ContactKind,
    name: name === null ? null : sealer.openText(name, SEALED.name, `${me}/${id}`),
    identityKey: r.identity_key ? fromBase64Url(r.identity_key as string) : null,
    verified: Number(r.verified) === 1,
    keyChanged: Number(r.key_changed) === 1,
    addedAt: Number(r.added_at),
  };
}

/** Sorts contacts in place and returns them. */
export function sortContacts(rows: ContactRow[]): ContactRow[] {
  // Named contacts first, by name; then unnamed ones, by id (names are sealed: sorted here).
  return rows.sort((a, b) => {
    if ((a.name === null) !== (b.name === null)) return a.name === null ? 1 : -1;
    return cmp(a.name ?? "", b.name ?? "") || cmp(a.id, b.id);
  });
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
