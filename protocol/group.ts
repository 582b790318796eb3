/**
 * The group change statement: "group G, at epoch n, has these members (these of them admins)",
 * signed by one member's Ed25519 identity key (protocol/README.md, section 11.11).
 *
 * A statement carries the whole membership list of its epoch, not a difference, and the SHA-256 of
 * the statement of the epoch before it, so that a member applies epoch n + 1 only on top of the
 * very epoch n it holds: a replay, a skipped epoch and a fork are each refused by name
 * (daemon/_groups_state.ts is the state machine). Layout, big-endian:
 *
 * | field       | bytes    |                                                      |
 * | ----------- | -------- | ---------------------------------------------------- |
 * | label       | 21       | `schied/1/group-change`                              |
 * | version     | 1        | 1                                                    |
 * | group id    | 16       | random                                               |
 * | epoch       | 4        | 1 for the creation, then +1 per change               |
 * | created     | 8        | ms since the epoch (the signer's clock)              |
 * | prev        | 32       | SHA-256 of the statement of epoch − 1 (zeros at 1)   |
 * | signer key  | 32       | Ed25519 identity key; its client_id is its hash      |
 * | count       | 1        | 0 to GROUP_MAX_MEMBERS                               |
 * | members     | 17 each  | client_id (16), then 1 for an admin, 0 otherwise     |
 * | signature   | 64       | Ed25519 (strict RFC 8032) over everything before it  |
 *
 * At 100 members a statement is 1,879 bytes. Every refusal is a `ProtocolError("key_mismatch")`
 * whose message starts `Cannot parse group change:`.
 *
 * @module
 */
import { concat, constantTimeEqual, utf8 } from "./bytes.ts";
import { ID_LEN, KEY_LEN, SIGNATURE_LEN } from "./constants.ts";
import { sha256, sign, type SigningKeyPair } from "./_crypto.ts";
import { verifyStrict } from "./_ed25519.ts";
import { ProtocolError } from "./errors.ts";
import { clientIdFromPublicKey, formatId, parseId } from "./identity.ts";

/** Domain label at the start of every group change statement (under its signature). */
export const GROUP_CHANGE_LABEL = "schied/1/group-change";
/** The version of the statement format this build makes and accepts. */
export const GROUP_CHANGE_VERSION = 1;
/** Most members of a group (the signer among them unless it left). */
export const GROUP_MAX_MEMBERS = 100;
/** Bytes of a group id. */
export const GROUP_ID_LEN = 16;

const LABEL = utf8.encode(GROUP_CHANGE_LABEL);
const OFF_VERSION = LABEL.length;
const OFF_GROUP = OFF_VERSION + 1;
const OFF_EPOCH = OFF_GROUP + GROUP_ID_LEN;
const OFF_TIME = OFF_EPOCH + 4;
const OFF_PREV = OFF_TIME + 8;
const OFF_SIGNER = OFF_PREV + 32;
const OFF_COUNT = OFF_SIGNER + KEY_LEN;
const OFF_MEMBERS = OFF_COUNT + 1;
const MEMBER_LEN = ID_LEN + 1;

/** The length of a statement listing `n` members. */
export function groupChangeLen(n: number): number {
  return OFF_MEMBERS + n * MEMBER_LEN + SIGNATURE_LEN;
}

/** A group change statement, decoded (and, from parseGroupChange, verified). */
export interface GroupChange {
  /** The group id, 32 lowercase hex digits. */
  group: string;
  /** Its epoch: 1 for the creation. */
  epoch: number;
  createdMs: number;
  /** SHA-256 of the statement of the epoch before (all zeros at epoch 1). */
  prev: Uint8Array;
  /** The signer's client_id (the hash of its key) and key. */
  signer: string;
  signerKey: Uint8Array;
  /** Every member's client_id, in the statement's order (no duplicates). */
  members: string[];
  /** The admins among them. */
  admins: string[];
  /** SHA-256 of the whole statement: the next epoch's `prev`. */
  hash: Uint8Array;
}

function refuse(what: string): ProtocolError {
  return new ProtocolError("key_mismatch", `Cannot parse group change: ${what}`);
}

const HEX32 = /^[0-9a-f]{32}$/;

/** True for a group id as text (32 lowercase hex digits). */
export function isGroupId(text: string): boolean {
  return HEX32.test(text);
}

/** What a statement says, before it is signed. */
export interface GroupChangeBody {
  group: string;
  epoch: number;
  createdMs: number;
  /** The previous statement's hash (omit at epoch 1). */
  prev?: Uint8Array;
  members: string[];
  admins: string[];
}

/** Makes and signs a statement with `signer` (an identity key pair). Throws TypeError on misuse. */
export async function makeGroupChange(
  signer: SigningKeyPair,
  b: GroupChangeBody,
): Promise<Uint8Array> {
  if (!isGroupId(b.group)) throw new TypeError(`A group id is 32 hex digits, got ${b.group}`);
  if (!Number.isSafeInteger(b.epoch) || b.epoch < 1 || b.epoch > 0xffffffff) {
    throw new TypeError(`An epoch is 1 to 2^32 - 1, got ${b.epoch}`);
  }
  if (!Number.isSafeInteger(b.createdMs) || b.createdMs < 0) {
    throw new TypeError(`Creation time must be a non-negative integer of ms, got ${b.createdMs}`);
  }
  if (new Set(b.members).size !== b.members.length) throw new TypeError("A member is listed twice");
  if (b.members.length > GROUP_MAX_MEMBERS) {
    throw new TypeError(`A group has at most ${GROUP_MAX_MEMBERS} members`);
  }
  for (const a of b.admins) {
    if (!b.members.includes(a)) throw new TypeError(`Admin ${a} is not a member`);
  }
  const n = b.members.length;
  const body = new Uint8Array(groupChangeLen(n) - SIGNATURE_LEN);
  const view = new DataView(body.buffer);
  body.set(LABEL, 0);
  body[OFF_VERSION] = GROUP_CHANGE_VERSION;
  for (let i = 0; i < GROUP_ID_LEN; i++) {
    body[OFF_GROUP + i] = parseInt(b.group.slice(2 * i, 2 * i + 2), 16);
  }
  view.setUint32(OFF_EPOCH, b.epoch);
  view.setBigUint64(OFF_TIME, BigInt(b.createdMs));
  if (b.prev) body.set(b.prev, OFF_PREV);
  body.set(signer.publicKey, OFF_SIGNER);
  body[OFF_COUNT] = n;
  b.members.forEach((m, i) => {
    body.set(parseId(m), OFF_MEMBERS + i * MEMBER_LEN);
    body[OFF_MEMBERS + i * MEMBER_LEN + ID_LEN] = b.admins.includes(m) ? 1 : 0;
  });
  return concat(body, await sign(signer, body));
}

/**
 * Decodes and verifies a statement: its length, label, version, that no member is listed twice,
 * that every flag is 0 or 1, the epoch is at least 1 and its prev is zero exactly at epoch 1, and
 * the signer's signature (strict). Whether the signer may make this change is the state
 * machine's question (daemon/_groups_state.ts).
 */
export function parseGroupChange(bytes: Uint8Array): GroupChange {
  if (bytes.length < groupChangeLen(0)) throw refuse(`${bytes.length} bytes is too short`);
  if (!constantTimeEqual(bytes.subarray(0, LABEL.length), LABEL)) {
    throw refuse("not a group change statement (label)");
  }
  if (bytes[OFF_VERSION] !== GROUP_CHANGE_VERSION) {
    throw refuse(`version ${bytes[OFF_VERSION]} is not supported`);
  }
  const n = bytes[OFF_COUNT]!;
  if (n > GROUP_MAX_MEMBERS) throw refuse(`${n} members, at most ${GROUP_MAX_MEMBERS}`);
  if (bytes.length !== groupChangeLen(n)) {
    throw refuse(`${bytes.length} bytes for ${n} members, expected ${groupChangeLen(n)}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const epoch = view.getUint32(OFF_EPOCH);
  if (epoch === 0) throw refuse("epoch 0");
  const prev = bytes.slice(OFF_PREV, OFF_SIGNER);
  const zero = prev.every((b) => b === 0);
  if (epoch === 1 && !zero) throw refuse("epoch 1 names a previous statement");
  if (epoch > 1 && zero) throw refuse(`epoch ${epoch} names no previous statement`);
  const created = view.getBigUint64(OFF_TIME);
  if (created > BigInt(Number.MAX_SAFE_INTEGER)) throw refuse("creation time out of range");
  const members: string[] = [], admins: string[] = [];
  for (let i = 0; i < n; i++) {
    const at = OFF_MEMBERS + i * MEMBER_LEN;
    const id = formatId(bytes.subarray(at, at + ID_LEN));
    const flag = bytes[at + ID_LEN];
    if (flag !== 0 && flag !== 1) throw refuse(`member ${id} has flag ${flag}`);
    if (members.includes(id)) throw refuse(`member ${id} is listed twice`);
    members.push(id);
    if (flag === 1) admins.push(id);
  }
  const signerKey = bytes.slice(OFF_SIGNER, OFF_COUNT);
  const sigAt = bytes.length - SIGNATURE_LEN;
  if (!verifyStrict(signerKey, bytes.subarray(0, sigAt), bytes.subarray(sigAt))) {
    throw refuse("the signature does not verify");
  }
  let group = "";
  for (const b of bytes.subarray(OFF_GROUP, OFF_EPOCH)) group += b.toString(16).padStart(2, "0");
  return {
    group,
    epoch,
    createdMs: Number(created),
    prev,
    signer: formatId(clientIdFromPublicKey(signerKey)),
    signerKey,
    members,
    admins,
    hash: sha256(bytes),
  };
}
