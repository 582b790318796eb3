/**
 * Contacts, message requests and blocked ids: id → local name, pinned identity key, verified
 * flag, and a kind.
 *
 * - A **contact** is someone you added, wrote to, or whose request you accepted. Only contacts
 *   have names, are watched for presence, and are listed by `GET /contacts`.
 * - A **request** is an id that wrote to you first. Its messages are kept (bounded), but it is
 *   not a contact until you accept it; pending requests are capped, the oldest dropped first.
 * - A **blocked** id's envelopes are dropped before any handshake or decryption work.
 *
 * A key is pinned on first contact (a handshake or a registry lookup that hashes to the id).
 * Since an id is the hash of its key, a different key for a known id cannot pass the checks; a
 * rotated identity is a new id, to which a contact moves on its signed rotation statement
 * (`rotate`, protocol/README.md section 3.1). Names are stored sealed, with a blind index for
 * lookup.
 * Names keep the case they were given but compare without it (names.ts): `Frank` and `frank`
 * are one name, found by either, and a second contact cannot take it.
 *
 * @module
 */
import { idProblem, isIdText, parseId, safetyNumber } from "../protocol/identity.ts";
import { SEALED } from "./_migrations.ts";
import {
  checkName,
  type ContactKind,
  type ContactRow,
  contactRow,
  sortContacts,
} from "./_contacts_rows.ts";
import { pin, verify } from "./_contacts_keys.ts";
import { request } from "./_contacts_requests.ts";
import { rotate } from "./_contacts_rotate.ts";
import { nameKey } from "./names.ts";
import type { Self } from "./self.ts";
import type { Store } from "./store.ts";
import { ServiceError } from "./service.ts";

export { checkName, type ContactKind, type ContactRow, MAX_NAME_LEN } from "./_contacts_rows.ts";
export { MAX_REQUESTS } from "./_contacts_requests.ts";

/** Rows cached (strangers included, as misses); past it the cache starts over. */
const CONTACT_CACHE = 4096;

/**
 * The contacts of the current identity. Writes run inside a store operation. Rows are cached
 * in memory (every message looks its peer up): a write drops the row from the cache, and the
 * cache keeps only rows read outside a batch, so it never holds a row that could roll back.
 */
export class Contacts {
  readonly #cache = new Map<string, ContactRow | null>();
  #cacheFor = "";

  /** Binds to the store and the current identity. */
  constructor(
    readonly store: Store,
    readonly self: Self,
    readonly now: () => number = Date.now,
  ) {}

  #forget(id: string): void {
    this.#cache.delete(id);
  }

  get #me(): string {
    return this.self.idText;
  }

  get #sealer() {
    return this.store.sealer;
  }

  /** The blind index of a name: of its caseless key, so that case neither splits nor finds. */
  #index(name: string): Uint8Array {
    return this.#sealer.index(nameKey(name));
  }

  /** The id holding a name (in any case) among this identity's rows, if any. */
  #holder(name: string, kind?: "contact"): string | undefined {
    const r = this.store.stmt(
      `SELECT id FROM contacts WHERE me = ? AND name_idx = ?${kind ? " AND kind = 'contact'" : ""}`,
    ).get(this.#me, this.#index(name)) as { id: string } | undefined;
    return r?.id;
  }

  #row(r: Record<string, unknown>): ContactRow {
    return contactRow(this.#sealer, this.#me, r);
  }

  /** Every row of a kind: contacts by name then id; requests and blocked ids oldest first. */
  list(kind: ContactKind = "contact"): ContactRow[] {
    const rows = (this.store.stmt(
      "SELECT * FROM contacts WHERE me = ? AND kind = ? ORDER BY added_at, id",
    ).all(this.#me, kind) as Record<string, unknown>[]).map((r) => this.#row(r));
    if (kind !== "contact") return rows;
    return sortContacts(rows);
  }

  /** Rows of a kind. */
  count(kind: ContactKind = "contact"): number {
    return Number(
      (this.store.stmt("SELECT count(*) AS n FROM contacts WHERE me = ? AND kind = ?")
        .get(this.#me, kind) as { n: number }).n,
    );
  }

  /** The row of an id text, whatever its kind (from the cache when it holds the id). */
  get(id: string): ContactRow | undefined {
    if (this.#cacheFor !== this.#me) {
      this.#cache.clear(); // another identity's rows
      this.#cacheFor = this.#me;
    }
    const hit = this.#cache.get(id);
    if (hit !== undefined) return hit ?? undefined;
    const r = this.store.stmt("SELECT * FROM contacts WHERE me = ? AND id = ?").get(this.#me, id);
    const row = r ? this.#row(r as Record<string, unknown>) : undefined;
    // Not what a batch reads: it may see a row of its own that could still roll back.
    if (!this.store.inBatch) {
      if (this.#cache.size >= CONTACT_CACHE) this.#cache.clear();
      this.#cache.set(id, row ?? null);
    }
    return row;
  }

  /** The kind of an id, or undefined for a stranger. */
  kindOf(id: string): ContactKind | undefined {
    return this.get(id)?.kind;
  }

  /**
   * Resolves an id or a contact's name (in any case) to an id text; throws recipient_unknown.
   */
  resolve(idOrName: string): string {
    if (isIdText(idOrName)) return idOrName.toLowerCase();
    if (/^[0-9a-f]{8}-[0-9a-f]{4}-/i.test(idOrName)) {
      throw new ServiceError("recipient_unknown", idProblem(idOrName));
    }
    const id = this.#holder(idOrName, "contact");
    if (!id) {
      throw new ServiceError(
        "recipient_unknown",
        `No contact named "${idOrName.slice(0, 80)}" (and it is not an id: a schied id is a ` +
          "version-8 UUID derived from its owner's key)",
      );
    }
    return id;
  }

  #setName(id: string, name: string | null): void {
    this.#forget(id);
    this.store.stmt("UPDATE contacts SET name = ?, name_idx = ? WHERE me = ? AND id = ?").run(
      name === null ? null : this.#sealer.sealText(name, SEALED.name, `${this.#me}/${id}`),
      name === null ? null : this.#index(name),
      this.#me,
      id,
    );
  }

  /**
   * Adds a contact, names (or renames) an existing one, or accepts a request (any blocked id
   * too). A name another row holds in any case is refused with name_taken; a contact may change
   * the case of its own name.
   */
  add(id: string, name: string | null): ContactRow {
    const idText = id.toLowerCase();
    parseId(idText);
    if (name !== null) {
      name = checkName(name);
      const other = this.#holder(name);
      if (other !== undefined && other !== idText) {
        const held = this.get(other)?.name;
        throw new ServiceError(
          "name_taken",
          held !== null && held !== undefined && held !== name
            ? `The name "${name}" is taken: "${held}" is the same name (names ignore case)`
            : `The name "${name}" is taken`,
        );
      }
    }
    const existing = this.get(idText);
    this.#forget(idText);
    if (existing?.kind === "contact") {
      if (name === null || existing.name === name) {
        throw new ServiceError("contact_exists", `${idText} is already a contact`);
      }
    } else if (existing) {
      this.store.stmt("UPDATE contacts SET kind = 'contact', added_at = ? WHERE me = ? AND id = ?")
        .run(this.now(), this.#me, idText);
    } else {
      this.store.stmt("INSERT INTO contacts (me, id, kind, added_at) VALUES (?, ?, 'contact', ?)")
        .run(this.#me, idText, this.now());
    }
    if (name !== null) this.#setName(idText, name);
    return this.get(idText)!;
  }

  /**
   * Makes sure `id` is a contact (unnamed if new): writing to someone makes them one, and
   * answers their request. A blocked id is refused.
   */
  ensure(id: string): ContactRow {
    const kind = this.kindOf(id);
    if (kind !== "contact") this.#forget(id);
    if (kind === "blocked") {
      throw new ServiceError("bad_request", `${id} is blocked; unblock it first`);
    }
    if (kind === "request") {
      this.store.stmt("UPDATE contacts SET kind = 'contact' WHERE me = ? AND id = ?").run(
        this.#me,
        id,
      );
    } else if (kind === undefined) {
      this.store.stmt("INSERT INTO contacts (me, id, kind, added_at) VALUES (?, ?, 'contact', ?)")
        .run(this.#me, id, this.now());
    }
    return this.get(id)!;
  }

  /**
   * Records a stranger who wrote first as a request (no-op for a contact or a request). When
   * the requests are at MAX_REQUESTS, the oldest is dropped: returns its id, for the caller to
   * drop its messages and sessions too.
   */
  request(id: string): { dropped: string | undefined } {
    return request(this, (i) => this.#forget(i), id);
  }

  /** Blocks an id (a contact, a request or a stranger): its name is forgotten. */
  block(id: string): ContactRow {
    parseId(id);
    this.#forget(id);
    this.store.stmt(
      `INSERT INTO contacts (me, id, kind, added_at) VALUES (?, ?, 'blocked', ?)
       ON CONFLICT (me, id) DO UPDATE SET kind = 'blocked', name = NULL, name_idx = NULL`,
    ).run(this.#me, id, this.now());
    return this.get(id)!;
  }

  /** Unblocks an id: it is a stranger again. False if it was not blocked. */
  unblock(id: string): boolean {
    this.#forget(id);
    const r = this.store.stmt("DELETE FROM contacts WHERE me = ? AND id = ? AND kind = 'blocked'")
      .run(this.#me, id);
    return Number(r.changes) === 1;
  }

  /**
   * Pins `key` for `id` if none is pinned (a stranger's key is pinned once it is a request).
   * Throws key_mismatch if the key does not hash to the id or differs from the pinned one
   * (impossible for a key that hashes to the id, checked anyway).
   */
  pin(id: string, key: Uint8Array): void {
    pin(this, (i) => this.#forget(i), id, key);
  }

  /**
   * Moves a contact to the new id of its verified rotation statement (the caller verified it):
   * name and added time kept, `newKey` pinned, the verified mark cleared until the user confirms.
   */
  rotate(oldId: string, newId: string, newKey: Uint8Array): ContactRow {
    return rotate(this, (i) => this.#forget(i), oldId, newId, newKey);
  }

  /** Removes a contact by id or name; throws recipient_unknown. */
  remove(idOrName: string): string {
    const id = this.resolve(idOrName);
    this.#forget(id);
    const r = this.store.stmt("DELETE FROM contacts WHERE me = ? AND id = ? AND kind = 'contact'")
      .run(this.#me, id);
    if (Number(r.changes) === 0) {
      throw new ServiceError("recipient_unknown", `${id} is not a contact`);
    }
    return id;
  }

  /** Forgets a request (declined, or dropped to make room). */
  forgetRequest(id: string): boolean {
    this.#forget(id);
    const r = this.store.stmt("DELETE FROM contacts WHERE me = ? AND id = ? AND kind = 'request'")
      .run(this.#me, id);
    return Number(r.changes) === 1;
  }

  /** Sets the verified flag. */
  verify(idOrName: string, verified: boolean): ContactRow {
    return verify(this, (i) => this.#forget(i), idOrName, verified);
  }

  /** The safety number with a contact, once its key is known. */
  static safety(myKey: Uint8Array, c: ContactRow): string | null {
    return c.identityKey ? safetyNumber(myKey, c.identityKey) : null;
  }
}
