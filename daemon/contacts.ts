/**
 * Contacts: id → local name, pinned identity key, verified flag. A key is pinned on first
 * contact (a handshake or a registry lookup that hashes to the id). Since an id is the hash of
 * its key, a different key for a known id cannot pass the checks; a rotated identity is simply
 * a new id, so a new contact.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { fromBase64Url, toBase64Url } from "../protocol/bytes.ts";
import { idMatchesKey, isIdText, parseId, safetyNumber } from "../protocol/identity.ts";
import { ServiceError } from "./service.ts";

/** A contact row. */
export interface ContactRow {
  id: string;
  name: string | null;
  identityKey: Uint8Array | null;
  verified: boolean;
  addedAt: number;
}

/** Longest contact name. */
export const MAX_NAME_LEN = 64;
const NAME_RE = /^[\p{L}\p{N}][\p{L}\p{N}._-]*$/u;

/** Checks a contact name: letters, digits, `.`, `_`, `-`; not an id. */
export function checkName(name: string): string {
  const n = name.normalize("NFC");
  if (n.length === 0 || n.length > MAX_NAME_LEN || !NAME_RE.test(n) || isIdText(n)) {
    throw new ServiceError(
      "bad_request",
      `Invalid contact name "${
        n.slice(0, 80)
      }": use 1–${MAX_NAME_LEN} letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
  return n;
}

function row(r: Record<string, unknown>): ContactRow {
  return {
    id: r.id as string,
    name: (r.name as string | null) ?? null,
    identityKey: r.identity_key ? fromBase64Url(r.identity_key as string) : null,
    verified: Number(r.verified) === 1,
    addedAt: Number(r.added_at),
  };
}

/** The contacts of one identity (`me`). */
export class Contacts {
  /** Binds to the database and the current identity's id text. */
  constructor(
    readonly db: DatabaseSync,
    public me: string,
    readonly now: () => number = Date.now,
  ) {}

  /** Every contact, by name then id. */
  list(): ContactRow[] {
    return (this.db.prepare("SELECT * FROM contacts WHERE me = ? ORDER BY name IS NULL, name, id")
      .all(this.me) as Record<string, unknown>[]).map(row);
  }

  /** A contact by id text. */
  get(id: string): ContactRow | undefined {
    const r = this.db.prepare("SELECT * FROM contacts WHERE me = ? AND id = ?").get(this.me, id);
    return r ? row(r as Record<string, unknown>) : undefined;
  }

  /** Resolves an id or a name to an id text; throws recipient_unknown. */
  resolve(idOrName: string): string {
    if (isIdText(idOrName)) return idOrName.toLowerCase();
    const r = this.db.prepare("SELECT id FROM contacts WHERE me = ? AND name = ?")
      .get(this.me, idOrName.normalize("NFC")) as { id: string } | undefined;
    if (!r) {
      throw new ServiceError(
        "recipient_unknown",
        `No contact named "${idOrName.slice(0, 80)}" and not an id`,
      );
    }
    return r.id;
  }

  /** Adds a contact (or names an existing unnamed one). */
  add(id: string, name: string | null): ContactRow {
    const idText = id.toLowerCase();
    parseId(idText);
    if (name !== null) {
      name = checkName(name);
      const other = this.db.prepare("SELECT id FROM contacts WHERE me = ? AND name = ?").get(
        this.me,
        name,
      ) as
        | { id: string }
        | undefined;
      if (other && other.id !== idText) {
        throw new ServiceError("name_taken", `The name "${name}" is taken`);
      }
    }
    const existing = this.get(idText);
    if (existing) {
      if (name === null || existing.name === name) {
        throw new ServiceError("contact_exists", `${idText} is already a contact`);
      }
      this.db.prepare("UPDATE contacts SET name = ? WHERE me = ? AND id = ?").run(
        name,
        this.me,
        idText,
      );
    } else {
      this.db.prepare("INSERT INTO contacts (me, id, name, added_at) VALUES (?, ?, ?, ?)")
        .run(this.me, idText, name, this.now());
    }
    return this.get(idText)!;
  }

  /** Makes sure `id` is a contact (unnamed if new). */
  ensure(id: string): ContactRow {
    this.db.prepare(
      "INSERT INTO contacts (me, id, added_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    )
      .run(this.me, id, this.now());
    return this.get(id)!;
  }

  /**
   * Pins `key` for `id` if none is pinned. Throws key_mismatch if the key does not hash to the
   * id or differs from the pinned one (impossible for a key that hashes to the id, checked anyway).
   */
  pin(id: string, key: Uint8Array): void {
    if (!idMatchesKey(parseId(id), key)) {
      throw new ServiceError("key_mismatch", `The identity key does not match ${id}`);
    }
    const c = this.ensure(id);
    if (c.identityKey) {
      if (toBase64Url(c.identityKey) !== toBase64Url(key)) {
        throw new ServiceError("key_mismatch", `A different key is pinned for ${id}`);
      }
      return;
    }
    this.db.prepare("UPDATE contacts SET identity_key = ? WHERE me = ? AND id = ?").run(
      toBase64Url(key),
      this.me,
      id,
    );
  }

  /** Removes a contact by id or name; throws recipient_unknown. */
  remove(idOrName: string): void {
    const id = this.resolve(idOrName);
    const r = this.db.prepare("DELETE FROM contacts WHERE me = ? AND id = ?").run(this.me, id);
    if (Number(r.changes) === 0) {
      throw new ServiceError("recipient_unknown", `${id} is not a contact`);
    }
  }

  /** Sets the verified flag. */
  verify(idOrName: string, verified: boolean): ContactRow {
    const id = this.resolve(idOrName);
    const c = this.get(id);
    if (!c) throw new ServiceError("recipient_unknown", `${id} is not a contact`);
    if (verified && !c.identityKey) {
      throw new ServiceError(
        "bad_request",
        `No key is known for ${id} yet; exchange a message first`,
      );
    }
    this.db.prepare("UPDATE contacts SET verified = ? WHERE me = ? AND id = ?").run(
      verified ? 1 : 0,
      this.me,
      id,
    );
    return this.get(id)!;
  }

  /** The safety number with a contact, once its key is known. */
  static safety(myKey: Uint8Array, c: ContactRow): string | null {
    return c.identityKey ? safetyNumber(myKey, c.identityKey) : null;
  }
}
