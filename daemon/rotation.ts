/**
 * Rotating this daemon's identity, as its contacts learn of it (protocol/README.md, section 3.1;
 * issue 10, item 5). A rotation is two steps:
 *
 * 1. the keystore makes the new identity and keeps the old one as retired (keystore.ts, atomic);
 * 2. one transaction moves every row of the old identity to the new one and queues, to each
 *    contact, a _carrier_: a message with no text that carries the rotation statement signed by
 *    the old and the new identity key. It is delivered by the outbox like any message (from the
 *    new id, acknowledged, resent), but is no part of the history and has no status events.
 *
 * What moves, and why: contacts (all kinds, pinned keys kept; the verified mark is cleared, since
 * a mark is of one pair of keys and this side's key changed), the history, the sequence numbers
 * (`peers`) and the queued messages. Queued messages go out from the new id after the rotation,
 * with their sequence numbers: the contact moves the old id's numbers to the new id when it
 * applies the statement, so nothing is shown twice or skipped. While a contact has not
 * acknowledged the carrier, every message queued for it carries the statement too (`rot`), so
 * whichever of them it opens first moves it. Rotating again before a contact acknowledged the
 * last rotation makes a chain, oldest first (the contact may have applied the first statement
 * or not): that contact's carrier and queued messages carry both statements. Sessions are not moved: they are bound to the old id;
 * the new id makes new ones.
 *
 * The setting `identity` records whose rows daemon.db holds. When the daemon starts and the
 * keystore's current identity is another one that was retired (an `id --rotate` made without a
 * daemon, or a crash between the two steps), step 2 runs then (`adoptRotation`): the offline
 * rotation tells the contacts as soon as the daemon runs.
 *
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { formatId } from "../protocol/identity.ts";
import { makeRotation, ROTATION_CHAIN_MAX, ROTATION_LEN } from "../protocol/rotation.ts";
import { getSetting, setSetting, tx } from "./db.ts";
import type { Identity, KeyFile } from "./keystore.ts";
import { SEALED } from "./_migrations.ts";
import type { Sealer } from "./sealer.ts";
import { rowId } from "./_ids.ts";

/** The setting naming the identity whose rows daemon.db holds. */
export const IDENTITY_SETTING = "identity";

/** The statement that `next` replaces `old`, signed by both. */
export function rotationStatement(
  old: Identity,
  next: Identity,
  nowMs: number,
): Promise<Uint8Array> {
  return makeRotation(old.signing, next.signing, nowMs);
}

/**
 * Step 2, inside a transaction the caller holds: moves the rows of `oldMe` to `newMe` and queues
 * a carrier of `statement` to each contact. Returns the contacts told.
 */
export function moveIdentity(
  db: DatabaseSync,
  sealer: Sealer,
  oldMe: string,
  newMe: string,
  statement: Uint8Array,
  now: number,
): string[] {
  const rows = db.prepare("SELECT id, name FROM contacts WHERE me = ?").all(oldMe) as {
    id: string;
    name: Uint8Array | null;
  }[];
  const move = db.prepare(
    "UPDATE contacts SET me = ?, verified = 0, name = ? WHERE me = ? AND id = ?",
  );
  for (const r of rows) {
    // A name is sealed bound to its row (me/id): sealed again for the new identity.
    const name = r.name === null ? null : sealer.sealText(
      sealer.openText(r.name, SEALED.name, `${oldMe}/${r.id}`),
      SEALED.name,
      `${newMe}/${r.id}`,
    );
    move.run(newMe, name, oldMe, r.id);
  }
  db.prepare("UPDATE messages SET me = ? WHERE me = ?").run(newMe, oldMe);
  db.prepare("UPDATE peers SET me = ? WHERE me = ?").run(newMe, oldMe);
  // Files follow, their sealed metadata sealed again for the new identity (it is bound to me/id).
  const moveFile = db.prepare("UPDATE files SET me = ?, meta = ? WHERE me = ? AND id = ?");
  for (const f of db.prepare("SELECT id, meta FROM files WHERE me = ?").all(oldMe)) {
    const id = f.id as string;
    const meta = sealer.openText(f.meta as Uint8Array, SEALED.file, `${oldMe}/${id}`);
    moveFile.run(newMe, sealer.sealText(meta, SEALED.file, `${newMe}/${id}`), oldMe, id);
  }
  const contacts = (db.prepare(
    "SELECT id FROM contacts WHERE me = ? AND kind = 'contact' AND id NOT IN (?, ?) ORDER BY id",
  ).all(newMe, oldMe, newMe) as { id: string }[]).map((r) => r.id);
  // Queued messages to a contact carry the statement (whichever arrives first moves it); to a
  // contact that has not acknowledged the last rotation yet, the chain of both (or more).
  const pendingCarrier = db.prepare(
    `SELECT rot FROM messages WHERE me = ? AND peer = ? AND direction = 'out' AND carrier = 1
     AND status IN ('queued', 'sent') ORDER BY seq DESC LIMIT 1`,
  );
  const carry = db.prepare(
    `UPDATE messages SET rot = ? WHERE me = ? AND peer = ? AND direction = 'out'
     AND status IN ('queued', 'sent')`,
  );
  const peerRow = db.prepare(
    "INSERT INTO peers (me, peer) VALUES (?, ?) ON CONFLICT DO NOTHING",
  );
  const bump = db.prepare(
    `UPDATE peers SET next_send_seq = next_send_seq + 1 WHERE me = ? AND peer = ?
     RETURNING next_send_seq - 1 AS seq`,
  );
  const carrier = db.prepare(
    `INSERT INTO messages (id, me, direction, peer, seq, body, ts, status, created_at, rot,
     carrier) VALUES (?, ?, 'out', ?, ?, ?, ?, 'queued', ?, ?, 1)`,
  );
  for (const peer of contacts) {
    const prior = (pendingCarrier.get(newMe, peer) as { rot: Uint8Array | null } | undefined)
      ?.rot;
    const rot = prior ? chained(prior, statement) : statement;
    carry.run(rot, newMe, peer);
    if (prior) continue; // its carrier carries the chain now
    peerRow.run(newMe, peer);
    const { seq } = bump.get(newMe, peer) as { seq: number };
    const id = rowId(now);
    carrier.run(id, newMe, peer, seq, sealer.sealText("", SEALED.body, id), now, now, rot);
  }
  setSetting(db, IDENTITY_SETTING, newMe);
  return contacts;
}

/** `prior` (a chain ending at this identity's old id) and then `statement`, the newest kept. */
function chained(prior: Uint8Array, statement: Uint8Array): Uint8Array {
  const all = new Uint8Array(prior.length + statement.length);
  all.set(prior);
  all.set(statement, prior.length);
  return all.slice(Math.max(0, all.length - ROTATION_CHAIN_MAX * ROTATION_LEN));
}

/**
 * At start, before the engine reads anything: finishes a rotation whose rows were not moved yet
 * (see the module's comment), or records the current identity. Returns the contacts told.
 */
export async function adoptRotation(
  db: DatabaseSync,
  sealer: Sealer,
  keys: KeyFile,
  now: number,
): Promise<string[]> {
  const current = formatId(keys.current.id);
  const last = getSetting(db, IDENTITY_SETTING);
  if (last === current) return [];
  const old = keys.retired.find((r) => formatId(r.id) === last);
  if (!old) {
    // A first start of this release (or the old identity was removed before it could sign).
    setSetting(db, IDENTITY_SETTING, current);
    return [];
  }
  const statement = await rotationStatement(old, keys.current, now);
  return tx(db, () => moveIdentity(db, sealer, last!, current, statement, now));
}
