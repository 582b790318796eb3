/**
 * The membership state machine of a group (protocol/README.md, section 11.11): which verified
 * change statement (protocol/group.ts) a member applies on top of the epoch it holds, and why it
 * refuses the others. Pure: no store, no clock; daemon/groups.ts keeps the state.
 *
 * - Unknown group: a statement is taken only if its signer is one of the admins it lists (an
 *   invitation: the creation, or the change that added this member). The daemon also requires
 *   that the signer is the one who sent it and a contact (daemon/_groups_in.ts).
 * - Known group at epoch n: only epoch n + 1 whose `prev` is the hash of statement n; its signer
 *   an admin at epoch n, or a member whose only change is to leave (the list of n less itself).
 *   Epoch ≤ n is a replay (the same statement) or a fork (another one); epoch > n + 1 skips.
 *
 * @module
 */
import { constantTimeEqual } from "../protocol/bytes.ts";
import { ProtocolError } from "../protocol/errors.ts";
import type { GroupChange } from "../protocol/group.ts";

/** What a member holds of a group: the last statement it applied. */
export interface GroupState {
  group: string;
  epoch: number;
  /** SHA-256 of the statement of this epoch. */
  hash: Uint8Array;
  members: string[];
  admins: string[];
}

function refuse(what: string): ProtocolError {
  return new ProtocolError("key_mismatch", `Cannot parse group change: ${what}`);
}

/** The state a statement leads to. */
export function stateOf(c: GroupChange): GroupState {
  return {
    group: c.group,
    epoch: c.epoch,
    hash: c.hash,
    members: [...c.members],
    admins: [...c.admins],
  };
}

/**
 * Applies a verified statement `c` to `state` (undefined: a group this member does not know) and
 * returns the new state; throws `ProtocolError("key_mismatch")` with the reason otherwise.
 *
 * @example
 * ```ts
 * const s1 = applyChange(undefined, parseGroupChange(creation));
 * const s2 = applyChange(s1, parseGroupChange(addDave)); // epoch 2
 * ```
 */
export function applyChange(state: GroupState | undefined, c: GroupChange): GroupState {
  if (state === undefined) {
    if (!c.admins.includes(c.signer)) {
      throw refuse(`epoch ${c.epoch} of an unknown group is signed by ${c.signer}, no admin of it`);
    }
    return stateOf(c);
  }
  if (c.group !== state.group) throw refuse(`group ${c.group} is not ${state.group}`);
  if (c.epoch <= state.epoch) {
    const same = c.epoch === state.epoch && constantTimeEqual(c.hash, state.hash);
    throw refuse(
      same
        ? `epoch ${c.epoch} was applied already (a replay)`
        : `epoch ${c.epoch} does not follow ${state.epoch} (a replay or a fork)`,
    );
  }
  if (c.epoch !== state.epoch + 1) {
    throw refuse(`epoch ${c.epoch} does not follow ${state.epoch}`);
  }
  if (!constantTimeEqual(c.prev, state.hash)) {
    throw refuse(`epoch ${c.epoch} was made on another epoch ${state.epoch} (a fork)`);
  }
  if (!state.admins.includes(c.signer) && !isLeaving(state, c)) {
    throw refuse(`epoch ${c.epoch} is signed by ${c.signer}, no admin at epoch ${state.epoch}`);
  }
  return stateOf(c);
}

/** True when `c` is its signer, a member at `state`, leaving and changing nothing else. */
function isLeaving(state: GroupState, c: GroupChange): boolean {
  if (!state.members.includes(c.signer) || c.members.includes(c.signer)) return false;
  const rest = state.members.filter((m) => m !== c.signer);
  const admins = state.admins.filter((m) => m !== c.signer);
  return sameSet(rest, c.members) && sameSet(admins, c.admins);
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** The members `c` adds to `before` and those it removes. */
export function diff(
  before: GroupState | undefined,
  after: GroupState,
): { added: string[]; removed: string[] } {
  const old = before?.members ?? [];
  return {
    added: after.members.filter((m) => !old.includes(m)),
    removed: old.filter((m) => !after.members.includes(m)),
  };
}
