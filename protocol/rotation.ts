/**
 * The identity rotation statement: "the holder of old key A now uses new key B", signed by both.
 *
 * A statement is 250 bytes: a label, a version byte, the old and the new client_id, the old and
 * the new Ed25519 identity key, a creation time (ms, passed in by the caller: `protocol/` has no
 * clock) and two Ed25519 signatures over everything before them — one by the old key (it
 * authorises the move) and one by the new key (it proves possession, so nobody can rotate a
 * contact onto a key they do not hold). See `protocol/README.md`, "Identity rotation statement".
 *
 * Every refusal is a `ProtocolError` with the code `key_mismatch` and a message naming the check.
 *
 * The labels are kept here rather than in `constants.ts` for now; each is distinct from every other
 * label of the protocol (none is a prefix of another).
 *
 * @example
 * ```ts
 * const bytes = await makeRotation(oldKeys, newKeys, nowMs);
 * const r = verifyRotation(bytes, pinnedOldKey); // r.newId, r.newKey, r.createdMs
 * ```
 * @module
 */
import { concat, constantTimeEqual, utf8 } from "./bytes.ts";
import { ID_LEN, KEY_LEN, SIGNATURE_LEN } from "./constants.ts";
import { sign, type SigningKeyPair } from "./_crypto.ts";
import { verifyStrict } from "./_ed25519.ts";
import { ProtocolError } from "./errors.ts";
import { clientIdFromPublicKey, idMatchesKey } from "./identity.ts";

/** Domain label at the start of every rotation statement (on the wire, under both signatures). */
export const ROTATION_LABEL = "schied/1/rotation";

/** Label in front of the statement body in the message the old key signs. */
export const ROTATION_OLD_SIG_LABEL = "schied/1/rotate-by-old";

/** Label in front of the statement body in the message the new key signs. */
export const ROTATION_NEW_SIG_LABEL = "schied/1/rotate-by-new";

/** The version of the statement format this build makes and accepts. */
export const ROTATION_VERSION = 1;

const LABEL = utf8.encode(ROTATION_LABEL);
const OLD_SIG_LABEL = utf8.encode(ROTATION_OLD_SIG_LABEL);
const NEW_SIG_LABEL = utf8.encode(ROTATION_NEW_SIG_LABEL);

/** Offsets of the fields. */
const OFF_VERSION = LABEL.length;
const OFF_OLD_ID = OFF_VERSION + 1;
const OFF_NEW_ID = OFF_OLD_ID + ID_LEN;
const OFF_OLD_KEY = OFF_NEW_ID + ID_LEN;
const OFF_NEW_KEY = OFF_OLD_KEY + KEY_LEN;
const OFF_TIME = OFF_NEW_KEY + KEY_LEN;
/** Length of the signed body: label through creation time. */
export const ROTATION_BODY_LEN = OFF_TIME + 8;
const OFF_OLD_SIG = ROTATION_BODY_LEN;
const OFF_NEW_SIG = OFF_OLD_SIG + SIGNATURE_LEN;
/** Length of a whole statement (250 bytes). */
export const ROTATION_LEN = OFF_NEW_SIG + SIGNATURE_LEN;

/**
 * Most statements in one chain (see `splitRotations`): a contact that missed more rotations than
 * this in a row is not moved (it sees the newest id as a stranger).
 */
export const ROTATION_CHAIN_MAX = 4;

/**
 * Splits a chain of statements, oldest first, each one's new identity the next one's old (what a
 * daemon that rotates again before a contact acknowledged its last rotation sends): 1 to
 * ROTATION_CHAIN_MAX statements of ROTATION_LEN bytes. Only the lengths are checked here; the
 * links and signatures are the receiver's to verify. Throws `ProtocolError("key_mismatch")`.
 */
export function splitRotations(bytes: Uint8Array): Uint8Array[] {
  const n = bytes.length / ROTATION_LEN;
  if (!Number.isInteger(n) || n < 1 || n > ROTATION_CHAIN_MAX) {
    throw refuse(`a chain of ${bytes.length} bytes, not 1 to ${ROTATION_CHAIN_MAX} statements`);
  }
  return Array.from(
    { length: n },
    (_, i) => bytes.subarray(i * ROTATION_LEN, (i + 1) * ROTATION_LEN),
  );
}

/** A rotation statement that verified. */
export interface Rotation {
  /** The client_id being left. */
  oldId: Uint8Array;
  /** The client_id moved to. */
  newId: Uint8Array;
  /** The old Ed25519 identity key (equal to the pinned one). */
  oldKey: Uint8Array;
  /** The new Ed25519 identity key. */
  newKey: Uint8Array;
  /** When the statement was made, in ms since the epoch (as its maker's clock said). */
  createdMs: number;
}

function refuse(what: string): ProtocolError {
  return new ProtocolError("key_mismatch", `Rotation statement refused: ${what}`);
}

/** The message the old key signs over a body. */
function oldSigned(body: Uint8Array): Uint8Array {
  return concat(OLD_SIG_LABEL, body);
}

/** The message the new key signs over a body. */
function newSigned(body: Uint8Array): Uint8Array {
  return concat(NEW_SIG_LABEL, body);
}

/**
 * The signed body of a statement: label, version, both ids, both keys, creation time. For
 * `makeRotation` and for tests that build a statement by hand.
 */
export function rotationBody(oldKey: Uint8Array, newKey: Uint8Array, nowMs: number): Uint8Array {
  if (oldKey.length !== KEY_LEN || newKey.length !== KEY_LEN) {
    throw new TypeError(`Identity keys must be ${KEY_LEN} bytes`);
  }
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) {
    throw new TypeError(`Creation time must be a non-negative integer of ms, got ${nowMs}`);
  }
  const body = new Uint8Array(ROTATION_BODY_LEN);
  body.set(LABEL, 0);
  body[OFF_VERSION] = ROTATION_VERSION;
  body.set(clientIdFromPublicKey(oldKey), OFF_OLD_ID);
  body.set(clientIdFromPublicKey(newKey), OFF_NEW_ID);
  body.set(oldKey, OFF_OLD_KEY);
  body.set(newKey, OFF_NEW_KEY);
  new DataView(body.buffer).setBigUint64(OFF_TIME, BigInt(nowMs));
  return body;
}

/** The two messages signed over a body: `[by the old key, by the new key]`. */
export function rotationSignedMessages(body: Uint8Array): [Uint8Array, Uint8Array] {
  return [oldSigned(body), newSigned(body)];
}

/**
 * Makes a rotation statement from the old identity key pair to the new one, dated `nowMs`.
 * Throws a TypeError if both are the same key.
 *
 * @example
 * ```ts
 * const statement = await makeRotation(identity.signing, next.signing, Date.now());
 * ```
 */
export async function makeRotation(
  oldIdentity: SigningKeyPair,
  newIdentity: SigningKeyPair,
  nowMs: number,
): Promise<Uint8Array> {
  if (constantTimeEqual(oldIdentity.publicKey, newIdentity.publicKey)) {
    throw new TypeError("Cannot rotate an identity onto itself");
  }
  const body = rotationBody(oldIdentity.publicKey, newIdentity.publicKey, nowMs);
  const oldSig = await sign(oldIdentity, oldSigned(body));
  const newSig = await sign(newIdentity, newSigned(body));
  return concat(body, oldSig, newSig);
}

/**
 * The ids and keys a statement of the right length names, unverified: for a receiver to find the
 * contact it is about (and the key pinned for it) before `verifyRotation`, or to see that it was
 * applied already. Nothing read here may be acted on before `verifyRotation` succeeds. Throws
 * `ProtocolError("key_mismatch")` for a wrong length.
 */
export function peekRotation(bytes: Uint8Array): Omit<Rotation, "createdMs"> {
  if (bytes.length !== ROTATION_LEN) {
    throw refuse(`length ${bytes.length}, expected ${ROTATION_LEN}`);
  }
  return {
    oldId: bytes.slice(OFF_OLD_ID, OFF_OLD_ID + ID_LEN),
    newId: bytes.slice(OFF_NEW_ID, OFF_NEW_ID + ID_LEN),
    oldKey: bytes.slice(OFF_OLD_KEY, OFF_OLD_KEY + KEY_LEN),
    newKey: bytes.slice(OFF_NEW_KEY, OFF_NEW_KEY + KEY_LEN),
  };
}

/**
 * Verifies a rotation statement against the old identity key the receiver pinned for the sender.
 * Checks, in this order: length, label, version, that each id is the hash of its key, that the
 * old key is the pinned one, the old key's signature, the new key's signature (both strict
 * RFC 8032), and that old and new differ. Throws `ProtocolError("key_mismatch")` on any failure.
 *
 * @example
 * ```ts
 * const { newId, newKey } = verifyRotation(bytes, contact.identityKey);
 * ```
 */
export function verifyRotation(bytes: Uint8Array, pinnedOldKey: Uint8Array): Rotation {
  if (bytes.length !== ROTATION_LEN) {
    throw refuse(`length ${bytes.length}, expected ${ROTATION_LEN}`);
  }
  if (!constantTimeEqual(bytes.subarray(0, LABEL.length), LABEL)) {
    throw refuse("not a rotation statement (label)");
  }
  if (bytes[OFF_VERSION] !== ROTATION_VERSION) {
    throw refuse(`version ${bytes[OFF_VERSION]} is not supported`);
  }
  const oldId = bytes.slice(OFF_OLD_ID, OFF_OLD_ID + ID_LEN);
  const newId = bytes.slice(OFF_NEW_ID, OFF_NEW_ID + ID_LEN);
  const oldKey = bytes.slice(OFF_OLD_KEY, OFF_OLD_KEY + KEY_LEN);
  const newKey = bytes.slice(OFF_NEW_KEY, OFF_NEW_KEY + KEY_LEN);
  if (!idMatchesKey(oldId, oldKey)) throw refuse("the old id is not the hash of the old key");
  if (!idMatchesKey(newId, newKey)) throw refuse("the new id is not the hash of the new key");
  if (!constantTimeEqual(oldKey, pinnedOldKey)) {
    throw refuse("the old key is not the one pinned for this contact");
  }
  const body = bytes.subarray(0, ROTATION_BODY_LEN);
  if (!verifyStrict(oldKey, oldSigned(body), bytes.subarray(OFF_OLD_SIG, OFF_NEW_SIG))) {
    throw refuse("the old key's signature does not verify");
  }
  if (!verifyStrict(newKey, newSigned(body), bytes.subarray(OFF_NEW_SIG, ROTATION_LEN))) {
    throw refuse("the new key's signature does not verify");
  }
  if (constantTimeEqual(oldKey, newKey)) throw refuse("the old and the new key are the same");
  const created = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .getBigUint64(OFF_TIME);
  if (created > BigInt(Number.MAX_SAFE_INTEGER)) throw refuse("creation time out of range");
  return { oldId, newId, oldKey, newKey, createdMs: Number(created) };
}
