/**
 * The world of the end-to-end attack tests: an in-process relay whose routing table is a
 * malicious test double, and in-process daemons that talk through it. The hub records every
 * envelope it is asked to route and lets a test rule misroute, duplicate, drop, rewrite or
 * tamper with it. Every wait is bounded and on a condition.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { DB_FILE } from "../../daemon/db.ts";
import { Keystore, type RunningDaemon, startDaemon } from "../../daemon/mod.ts";
import { Sealer } from "../../daemon/sealer.ts";
import type { JournalEvent, MessageRecord } from "../../daemon/service.ts";
import { parseId } from "../../protocol/identity.ts";
import { isRatchetMessage } from "../../protocol/envelope.ts";
import { E2ESession } from "../../protocol/session.ts";
import { Hub, idKey, type RunningRelay, type SessionHandle, startRelay } from "../../relay/mod.ts";
import { waitFor } from "../harness.ts";

/**
 * Envelope kinds as kindOf names them: the handshake kinds are their kind bytes in version-1
 * envelopes (`1 ‖ kind ‖ hid ‖ body`); MSG is an end-to-end version 2 MSG (`2 ‖ shape ‖ …`, a
 * ratchet message: its second byte is a shape, not a kind).
 */
export const HS1 = 1, HS2 = 2, HS3 = 3, MSG = 4;

/** The kind of an envelope (HS1, HS2, HS3 or MSG), or undefined (a schied/1 MSG, garbage). */
export function kindOf(env: Uint8Array): number | undefined {
  if (isRatchetMessage(env)) return MSG;
  if (env.length >= 10 && env[0] === 1 && env[1]! >= HS1 && env[1]! <= HS3) return env[1];
  return undefined;
}

/** One envelope a daemon asked the relay to route. */
export interface Routed {
  /** Sender's id key (hex), as the relay authenticated it. */
  from: string;
  /** Addressee's id key (hex). */
  to: string;
  /** A copy of the envelope as the sender sent it. */
  envelope: Uint8Array;
}

/** A rule decides what the malicious relay does with one envelope; undefined routes it honestly. */
export type Rule = (
  r: Routed,
  hub: MaliciousHub,
) => "delivered" | "offline" | undefined;

/** A routing table that plays a malicious relay. */
export class MaliciousHub extends Hub {
  /** The online sessions, by id key. */
  readonly sessions = new Map<string, SessionHandle>();
  /** Every envelope routed so far, in order. */
  readonly routed: Routed[] = [];
  /** The current misbehaviour (none: an honest relay). */
  rule: Rule | undefined;

  override attach(s: SessionHandle): SessionHandle | undefined {
    const old = super.attach(s);
    this.sessions.set(s.key, s);
    return old;
  }

  override detach(s: SessionHandle): void {
    super.detach(s);
    if (this.sessions.get(s.key) === s) this.sessions.delete(s.key);
  }

  override route(from: SessionHandle, to: Uint8Array, envelope: Uint8Array) {
    const r = { from: from.key, to: idKey(to), envelope: envelope.slice() };
    this.routed.push(r);
    return this.rule?.(r, this) ?? super.route(from, to, envelope);
  }

  /** Delivers `envelope` to the session of `to` (id key) claiming it comes from `from` (id key). */
  inject(to: string, from: string, envelope: Uint8Array): "delivered" | "offline" {
    const s = this.sessions.get(to);
    return s?.deliver(hexId(from), envelope) ? "delivered" : "offline";
  }

  /** The envelopes routed from `from` to `to` (id keys) of one kind. */
  seen(from: string, to: string, kind: number): Uint8Array[] {
    return this.routed.filter((r) => r.from === from && r.to === to && kindOf(r.envelope) === kind)
      .map((r) => r.envelope);
  }

  /** The envelopes routed of one kind, either way between any two peers. */
  ofKind(kind: number): Uint8Array[] {
    return this.routed.filter((r) => kindOf(r.envelope) === kind).map((r) => r.envelope);
  }
}

/** The 16 id bytes of an id key (hex). */
export function hexId(key: string): Uint8Array {
  return Uint8Array.from(key.match(/../g)!.map((h) => parseInt(h, 16)));
}

/** One daemon of the world. */
export interface Peer {
  d: RunningDaemon;
  /** Its id text. */
  id: string;
  /** Its id key as the relay names it (hex). */
  key: string;
  stateDir: string;
  /** Every journal event since start. */
  events: JournalEvent[];
}

/** A relay with a malicious hub and some daemons. */
export interface World {
  hub: MaliciousHub;
  relay: RunningRelay;
  /** Every raw WebSocket message the relay received. */
  wire: Uint8Array[];
  peers: Peer[];
  close(): Promise<void>;
}

/**
 * Starts a relay (with a MaliciousHub) and `n` daemons, all online. `contacts(i, j)` says whether
 * peer i has peer j as a contact (default: everyone knows everyone, as these tests are about
 * the end-to-end layer rather than message requests).
 */
export async function startWorld(
  n: number,
  contacts: (i: number, j: number) => boolean = () => true,
): Promise<World> {
  const dirs: string[] = [await Deno.makeTempDir({ prefix: "schied-e2e-attack-relay-" })];
  const hub = new MaliciousHub();
  const wire: Uint8Array[] = [];
  const relay = await startRelay({
    port: 0,
    stateDir: dirs[0]!,
    quiet: true,
    fdBudget: 100_000,
    hub,
    tap: (b) => wire.push(b.slice()),
  });
  const peers: Peer[] = [];
  const close = async () => {
    for (const p of peers) await p.d.close();
    await relay.close();
    for (const d of dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
  };
  try {
    for (let i = 0; i < n; i++) {
      const stateDir = await Deno.makeTempDir({ prefix: "schied-e2e-attack-daemon-" });
      dirs.push(stateDir);
      const d = await startDaemon({
        stateDir,
        relay: relay.address,
        apiPort: 0,
        engine: { initialBackoffMs: 50 },
      });
      const events: JournalEvent[] = [];
      d.engine.subscribe((e) => events.push(e));
      peers.push({ d, id: d.id, key: idKey(parseId(d.id)), stateDir, events });
    }
    await waitFor(
      () => peers.every((p) => p.d.engine.status().relay.state === "online"),
      "every daemon to be online",
    );
    // Everyone knows everyone: these tests are about the end-to-end layer, not message requests.
    for (const [i, p] of peers.entries()) {
      for (const [j, q] of peers.entries()) {
        if (i !== j && contacts(i, j)) await p.d.engine.addContact({ id: q.id });
      }
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { hub, relay, wire, peers, close };
}

/** The messages `p` has exchanged with `other`, oldest first. */
export function conversation(p: Peer, other: Peer | string): MessageRecord[] {
  return p.d.engine.messages({ with: typeof other === "string" ? other : other.id, limit: 1000 });
}

/** The texts `p` received from `other`, in the order stored. */
export function received(p: Peer, other: Peer | string): string[] {
  return conversation(p, other).filter((m) => m.direction === "in").map((m) => m.text);
}

/** Sends `texts` from `a` to `b` in order; returns the message ids. */
export async function sendAll(a: Peer, b: Peer, texts: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const text of texts) ids.push((await a.d.engine.send({ to: b.id, text })).id);
  return ids;
}

/** Waits until every message in `ids` sent by `a` is `delivered`. */
export async function waitDelivered(a: Peer, ids: string[], ms = 20_000): Promise<void> {
  await waitFor(
    () => ids.every((id) => a.d.engine.message(id).status === "delivered"),
    `${ids.length} message(s) to be delivered`,
    ms,
  );
}

/**
 * The stored end-to-end sessions of `p` with `peer`, newest first, read from its database and
 * opened with its data key (the state is sealed at rest): copies, to inspect or to try envelopes
 * on without touching the daemon's.
 */
export async function storedSessions(p: Peer, peer: Peer): Promise<E2ESession[]> {
  const { keys } = await Keystore.open(p.stateDir);
  const sealer = new Sealer(keys.dataKey);
  const db = new DatabaseSync(`${p.stateDir}/${DB_FILE}`, { readOnly: true });
  try {
    const rows = db.prepare(
      "SELECT sid, state FROM sessions WHERE me = ? AND peer = ? ORDER BY created_at DESC, rowid DESC",
    ).all(p.id, peer.id) as { sid: string; state: Uint8Array }[];
    return rows.map((r) =>
      E2ESession.parse(sealer.open(r.state, "sessions.state", `${p.id}/${peer.id}/${r.sid}`))
    );
  } finally {
    db.close();
  }
}

/**
 * What `p`'s stored sessions with `peer` (copies, newest first) make of `env`: `opened` if one
 * opens it, else the first refusal that is not `auth_failed` (`replayed`: its key was used), else
 * `auth_failed` (no session of `p` authenticates it).
 */
export async function tryOpen(p: Peer, peer: Peer, env: Uint8Array): Promise<string> {
  let refusal: string | undefined;
  for (const s of await storedSessions(p, peer)) {
    try {
      await s.open(env, { now: Date.now() });
      return "opened";
    } catch (e) {
      const code = String((e as { code?: string }).code);
      if (code !== "auth_failed") refusal ??= code;
    }
  }
  return refusal ?? "auth_failed";
}

/**
 * A rule that hands each MSG envelope from `a` to `b` (numbered from 1, in routing order) to
 * `fn`; everything else, and whatever `fn` leaves undefined, is routed honestly.
 */
export function onMsgs(
  a: Peer,
  b: Peer,
  fn: (env: Uint8Array, i: number, hub: MaliciousHub) => "delivered" | "offline" | undefined,
): Rule {
  let i = 0;
  return (r, hub) =>
    r.from === a.key && r.to === b.key && kindOf(r.envelope) === MSG
      ? fn(r.envelope, ++i, hub)
      : undefined;
}

/** The texts of the message (or request) events `p` journaled from `from`, in order. */
export function journaled(
  p: Peer,
  from: Peer,
  type: "message" | "request" = "message",
): string[] {
  return p.events.flatMap((e) => e.type === type && e.data.from === from.id ? [e.data.text] : []);
}
