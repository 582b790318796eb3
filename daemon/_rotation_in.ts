/**
 * Receiving identity rotation statements (protocol/README.md, section 3.1): the `rot` of an `m`
 * payload from id N, inside the write that stores the payload. `rot` is a chain, oldest first,
 * of the rotations the sender made since this contact last acknowledged one (usually one); the
 * chain is applied from its first old id that is a contact here. Used only by _payload_in.ts.
 *
 * - Applied already (N is a contact with the last statement's new key pinned): nothing to do,
 *   and no signature is checked (every message of N carries the chain until N has an ack).
 * - Refused, with a journaled `key_mismatch` error naming the check and nothing changed, when
 *   the last new id is not N (the sender the relay named, whose session opened it), a statement
 *   does not continue the one before it, no old id of the chain is a contact, `verifyRotation`
 *   fails for the first statement whose old id O is one, against the key pinned for O (or, if
 *   none was pinned yet, against the key in the statement, which must hash to O), or for any
 *   later one against the key before it, or N is already known otherwise than as the empty
 *   message request its handshake made. A refused statement never creates or changes a
 *   contact; the message it came with is handled as any of N's.
 * - Applied otherwise: contact O becomes N (name kept, new key pinned, verified mark cleared),
 *   O's history, sequence numbers and queued messages follow, O's sessions are forgotten, and a
 *   `rotation` event says so.
 *
 * @module
 */
import { constantTimeEqual, fromBase64Url, toBase64Url } from "../protocol/bytes.ts";
import { formatId, parseId } from "../protocol/identity.ts";
import { peekRotation, splitRotations, verifyRotation } from "../protocol/rotation.ts";
import type { DeliveryDeps, RelayPort } from "./delivery.ts";
import type { RelayClient } from "./relay_client.ts";
import type { BatchHooks, Store } from "./store.ts";

type Watcher = Pick<RelayClient, "watch" | "unwatch">;

/** What a statement did. */
export type RotationOutcome = "applied" | "replay" | "refused";

/** Refused statements remembered (to journal each once), before the memory starts over. */
const REFUSED_KEPT = 1024;

/** After-commit work of the rotations of a batch, per store. */
class RotationHooks implements BatchHooks {
  #moves: { d: DeliveryDeps; from: string; to: string }[] = [];
  #refusing: string[] = [];
  readonly refused = new Set<string>();

  move(d: DeliveryDeps, from: string, to: string): void {
    this.#moves.push({ d, from, to });
  }

  /** True the first time a statement is refused (this batch's refusals included). */
  firstRefusal(key: string): boolean {
    if (this.refused.has(key) || this.#refusing.includes(key)) return false;
    this.#refusing.push(key);
    return true;
  }

  /** The lengths of both lists before each operation of the batch (a mark is an index). */
  #marks: [number, number][] = [];

  mark(): number {
    this.#marks.push([this.#moves.length, this.#refusing.length]);
    return this.#marks.length - 1;
  }

  rollback(mark: number): void {
    const [moves, refusing] = this.#marks[mark] ?? [0, 0];
    this.#moves.length = moves;
    this.#refusing.length = refusing;
  }

  done(committed: boolean): (() => void) | void {
    const moves = this.#moves, refusing = this.#refusing;
    this.#moves = [];
    this.#refusing = [];
    this.#marks = [];
    if (!committed) return;
    if (this.refused.size + refusing.length > REFUSED_KEPT) this.refused.clear();
    for (const k of refusing) this.refused.add(k);
    if (moves.length === 0) return;
    return () => {
      for (const { d, from, to } of moves) {
        d.outbox.movePeer(from, to);
        // The relay client (not a fake port) watches the new id's presence, as it did the old's.
        const rc = d.relay() as (RelayPort & Partial<Watcher>) | undefined;
        rc?.unwatch?.([parseId(from)]);
        rc?.watch?.([parseId(to)]);
      }
    };
  }
}

const hooksOf = new WeakMap<Store, RotationHooks>();

function hooks(store: Store): RotationHooks {
  let h = hooksOf.get(store);
  if (!h) {
    h = new RotationHooks();
    store.hook(h);
    hooksOf.set(store, h);
  }
  return h;
}

function refuse(d: DeliveryDeps, peer: string, rot: string, why: string): "refused" {
  if (hooks(d.store).firstRefusal(`${peer}/${rot}`)) {
    d.messages.journal.append("error", {
      code: "key_mismatch",
      message: `Rotation statement from ${peer} refused: ${why}; nothing was moved`,
      peer,
    });
  }
  return "refused";
}

/**
 * Applies or refuses the statements `rot` (base64url: a chain, oldest first) that came from
 * `peer` (N).
 */
export function receiveRotation(
  d: DeliveryDeps,
  peer: string,
  rot: string,
  now: number,
): RotationOutcome {
  const bytes = fromBase64Url(rot);
  let chain: Uint8Array[], peeked: ReturnType<typeof peekRotation>[];
  try {
    chain = splitRotations(bytes);
    peeked = chain.map(peekRotation);
  } catch (e) {
    return refuse(d, peer, rot, (e as Error).message.replace(/^Rotation statement refused: /, ""));
  }
  const last = peeked[peeked.length - 1]!;
  const newId = formatId(last.newId);
  const n = d.contacts.get(peer);
  if (
    newId === peer && n?.kind === "contact" && n.identityKey &&
    constantTimeEqual(n.identityKey, last.newKey)
  ) return "replay";
  if (newId !== peer) {
    return refuse(d, peer, rot, `it names ${newId} as the new id, not the sender`);
  }
  for (let i = 1; i < peeked.length; i++) {
    if (!constantTimeEqual(peeked[i]!.oldKey, peeked[i - 1]!.newKey)) {
      return refuse(d, peer, rot, `statement ${i + 1} does not continue statement ${i}`);
    }
  }
  // The first identity of the chain that is a contact here: the ones before it were applied
  // already (or never concerned us); each from it on is verified against the key before it.
  const from = peeked.findIndex((p) => d.contacts.get(formatId(p.oldId))?.kind === "contact");
  if (from < 0) {
    const olds = peeked.map((p) => formatId(p.oldId)).join(", ");
    return refuse(d, peer, rot, `its old id ${olds} is not a contact`);
  }
  const oldId = formatId(peeked[from]!.oldId);
  const o = d.contacts.get(oldId)!;
  try {
    // No key pinned for O yet: the one in the statement, which verifyRotation checks hashes to O.
    let key = o.identityKey ?? peeked[from]!.oldKey;
    for (let i = from; i < chain.length; i++) key = verifyRotation(chain[i]!, key).newKey;
  } catch (e) {
    return refuse(d, peer, rot, (e as Error).message.replace(/^Rotation statement refused: /, ""));
  }
  const s = last;
  // N's handshake made it a request; one with messages (or any other row) is not replaced.
  if (
    n && (n.kind !== "request" || d.messages.countFrom(peer) > 0 ||
      (n.identityKey !== null && !constantTimeEqual(n.identityKey, s.newKey)))
  ) {
    const what = n.kind === "request" ? "a message request with messages" : `already ${n.kind}`;
    return refuse(d, peer, rot, `${peer} is ${what}`);
  }
  const me = d.self.idText, store = d.store;
  d.contacts.rotate(oldId, newId, s.newKey);
  store.stmt("DELETE FROM peers WHERE me = ? AND peer = ?").run(me, newId);
  store.stmt("UPDATE peers SET peer = ? WHERE me = ? AND peer = ?").run(newId, me, oldId);
  store.stmt("UPDATE messages SET peer = ? WHERE me = ? AND peer = ?").run(newId, me, oldId);
  store.stmt("UPDATE files SET peer = ? WHERE me = ? AND peer = ?").run(newId, me, oldId);
  d.sessions.forget(oldId);
  const label = o.name ?? oldId;
  const text = `${label} now uses id ${newId}, signed by their old key` +
    (o.verified || o.keyChanged
      ? `; you had verified ${label}: nothing is sent to the new key until you compare the ` +
        `safety number and run 'schied contacts verify ${label}' ('--no' accepts it unverified)`
      : "");
  d.messages.journal.append("rotation", {
    old_id: oldId,
    new_id: newId,
    name: o.name,
    identity_key: toBase64Url(s.newKey),
    was_verified: o.verified,
    text,
    ts: now,
  });
  hooks(store).move(d, oldId, newId);
  return "applied";
}
