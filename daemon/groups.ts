/**
 * The groups of the current identity (protocol/README.md, section 11.11), in the `groups` and
 * `group_changes` tables (migration 7): each group's last applied change statement, as a
 * GroupState, with this member's local name for it (sealed, unique without regard to case, like a
 * contact name), the epoch at which it last joined, and whether it still is a member.
 *
 * A plain view over the store: every method runs inside the caller's store operation. What a
 * change does is decided by the state machine (_groups_state.ts); this only stores it.
 *
 * @module
 */
import { constantTimeEqual, fromBase64Url, toBase64Url } from "../protocol/bytes.ts";
import { GROUP_CHAIN_MAX } from "../protocol/_payload_group.ts";
import { isGroupId } from "../protocol/group.ts";
import { checkName } from "./_contacts_rows.ts";
import { SEALED } from "./_migrations.ts";
import type { GroupState } from "./_groups_state.ts";
import { nameKey } from "./names.ts";
import type { Self } from "./self.ts";
import { type GroupRecord, ServiceError } from "./service.ts";
import type { Store } from "./store.ts";

/**
 * Most groups one identity holds. Why 1,000: far more than anyone takes part in, and a bound on
 * what contacts' invitations can make this daemon store.
 */
export const MAX_GROUPS = 1000;

/** Whether this identity is in a group it knows. */
export type Membership = "member" | "removed" | "left";

/** A stored group. */
export interface GroupRow extends GroupState {
  name: string | null;
  /** The epoch at which this identity last joined. */
  joined: number;
  state: Membership;
}

/** The groups of one identity, over the store. */
export class Groups {
  /** Binds to the store and the current identity. */
  constructor(readonly store: Store, readonly self: Self) {}

  get #me(): string {
    return this.self.idText;
  }

  #row(r: Record<string, unknown>): GroupRow {
    const id = r.id as string;
    const name = r.name as Uint8Array | null;
    return {
      group: id,
      name: name ? this.store.sealer.openText(name, SEALED.group, `${this.#me}/${id}`) : null,
      epoch: Number(r.epoch),
      hash: r.hash as Uint8Array,
      members: JSON.parse(r.members as string),
      admins: JSON.parse(r.admins as string),
      joined: Number(r.joined),
      state: r.state as Membership,
    };
  }

  /** The group `id`, if known. */
  get(id: string): GroupRow | undefined {
    const r = this.store.stmt("SELECT * FROM groups WHERE me = ? AND id = ?").get(this.#me, id);
    return r ? this.#row(r as Record<string, unknown>) : undefined;
  }

  /** The group named `name` (any case), if any. */
  byName(name: string): GroupRow | undefined {
    const r = this.store.stmt("SELECT * FROM groups WHERE me = ? AND name_idx = ?")
      .get(this.#me, this.store.sealer.index(nameKey(name)));
    return r ? this.#row(r as Record<string, unknown>) : undefined;
  }

  /** A group by id or name; throws not_found. */
  resolve(idOrName: string): GroupRow {
    const g = isGroupId(idOrName) ? this.get(idOrName) : this.byName(idOrName);
    if (!g) throw new ServiceError("not_found", `No group "${idOrName.slice(0, 80)}"`);
    return g;
  }

  /** How many groups this identity holds (left and removed ones included). */
  count(): number {
    return Number(
      (this.store.stmt("SELECT count(*) AS n FROM groups WHERE me = ?")
        .get(this.#me) as { n: number }).n,
    );
  }

  /** Every group, by name then id. */
  list(): GroupRow[] {
    return (this.store.stmt("SELECT * FROM groups WHERE me = ? ORDER BY created_at, id")
      .all(this.#me) as Record<string, unknown>[]).map((r) => this.#row(r));
  }

  /** Names a group (null: unnamed); a name another group holds is refused with name_taken. */
  setName(id: string, name: string | null): void {
    if (name !== null) {
      name = checkName(name, "group");
      const other = this.byName(name);
      if (other && other.group !== id) {
        throw new ServiceError("name_taken", `A group is named "${other.name}" already`);
      }
    }
    this.store.stmt("UPDATE groups SET name = ?, name_idx = ? WHERE me = ? AND id = ?").run(
      name === null ? null : this.store.sealer.sealText(name, SEALED.group, `${this.#me}/${id}`),
      name === null ? null : this.store.sealer.index(nameKey(name)),
      this.#me,
      id,
    );
  }

  /**
   * Stores `s`, the state a statement led to (its bytes `statement`), and the membership it
   * leaves this identity with; `now` dates a new group.
   */
  save(s: GroupState, statement: Uint8Array, now: number): GroupRow {
    const me = this.#me;
    const prior = this.get(s.group);
    const isMember = s.members.includes(me);
    const state: Membership = isMember ? "member" : prior?.state === "left" ? "left" : "removed";
    const joined = isMember && prior?.state !== "member" ? s.epoch : prior?.joined ?? s.epoch;
    this.store.stmt(
      `INSERT INTO groups (me, id, epoch, hash, members, admins, joined, state, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (me, id) DO UPDATE SET epoch = excluded.epoch,
       hash = excluded.hash, members = excluded.members, admins = excluded.admins,
       joined = excluded.joined, state = excluded.state`,
    ).run(
      me,
      s.group,
      s.epoch,
      s.hash,
      JSON.stringify(s.members),
      JSON.stringify(s.admins),
      joined,
      state,
      now,
    );
    this.store.stmt(
      "INSERT OR REPLACE INTO group_changes (me, grp, epoch, statement) VALUES (?, ?, ?, ?)",
    ).run(me, s.group, s.epoch, statement);
    // Only the statements a carrier sends are kept (a change's chain, see chain()).
    this.store.stmt("DELETE FROM group_changes WHERE me = ? AND grp = ? AND epoch <= ?")
      .run(me, s.group, s.epoch - GROUP_CHAIN_MAX);
    return this.get(s.group)!;
  }

  /** Marks this identity out of the group as having left it (its own leave statement). */
  markLeft(id: string): void {
    this.store.stmt("UPDATE groups SET state = 'left' WHERE me = ? AND id = ?").run(this.#me, id);
  }

  /** True when the statement of `epoch` this identity applied is `bytes`. */
  holds(id: string, epoch: number, bytes: Uint8Array): boolean {
    const r = this.store.stmt(
      "SELECT statement FROM group_changes WHERE me = ? AND grp = ? AND epoch = ?",
    ).get(this.#me, id, epoch) as { statement: Uint8Array } | undefined;
    return r !== undefined && constantTimeEqual(r.statement, bytes);
  }

  /** The last GROUP_CHAIN_MAX statements of a group, oldest first, in base64url. */
  chain(id: string): string[] {
    const rows = this.store.stmt(
      "SELECT statement FROM group_changes WHERE me = ? AND grp = ? ORDER BY epoch DESC LIMIT ?",
    ).all(this.#me, id, GROUP_CHAIN_MAX) as { statement: Uint8Array }[];
    return rows.reverse().map((r) => toBase64Url(r.statement));
  }

  /** The record the API shows. */
  record(g: GroupRow): GroupRecord {
    return {
      id: g.group,
      name: g.name,
      epoch: g.epoch,
      members: g.members,
      admins: g.admins,
      state: g.state,
    };
  }
}

/** The bytes of a chain's statements (base64url, oldest first). */
export function chainBytes(chain: string[]): Uint8Array[] {
  return chain.map((s) => fromBase64Url(s));
}
