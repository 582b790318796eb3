/**
 * End-to-end sessions per peer: the XX handshakes in progress and the established sessions,
 * persisted in the database so they survive restarts. Not safe for concurrent use: the engine
 * calls it from its one serial queue.
 *
 * Handshake rules: a peer may start a handshake at any time (it may have lost its state); the
 * new session replaces ours once it completes, and the previous one is kept for receiving
 * messages that were already under way. When both sides start at once, the handshake started
 * by the lower id wins.
 *
 * A MSG carries no session id (its header is encrypted, protocol/README.md section 13.3): `open`
 * tries the peer's sessions, newest first. Stored states are the ratchet's serialised form,
 * sealed (sealer.ts) and bound to their row.
 *
 * @module
 */
import { toBase64Url } from "../protocol/bytes.ts";
import { E2EInitiator, E2EResponder } from "../protocol/e2e_handshake.ts";
import type { Envelope } from "../protocol/envelope.ts";
import { ProtocolError } from "../protocol/errors.ts";
import type { RatchetDeps } from "../protocol/ratchet.ts";
import { E2ESession } from "../protocol/session.ts";
import { SEALED } from "./_migrations.ts";
import type { Self } from "./self.ts";
import type { Store } from "./store.ts";

/** How long a handshake we started may take before we start another. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Sessions kept per peer (the current one and the one before it). */
const KEEP = 2;

/** What handling a handshake envelope produced. */
export interface HandshakeOutcome {
  /** An envelope to send back (HS2 or HS3). */
  reply?: Uint8Array;
  /** A session that just became current, with the peer's identity key to pin. */
  established?: { session: E2ESession; peerIdentityKey: Uint8Array };
}

function lessThan(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

/** The sessions of one identity. */
export class SessionManager {
  readonly #initiators = new Map<string, { hs: E2EInitiator; at: number }>();
  readonly #responders = new Map<string, E2EResponder>();
  readonly #cache = new Map<string, E2ESession[]>(); // newest first

  /** Binds to the store, the current identity and the clock. */
  constructor(readonly store: Store, readonly self: Self, readonly now: () => number) {}

  get #me(): string {
    return this.self.idText;
  }

  #seal(peer: string, s: E2ESession): Uint8Array {
    const sid = toBase64Url(s.sid);
    return this.store.sealer.seal(s.serialize(), SEALED.session, `${this.#me}/${peer}/${sid}`);
  }

  /** Forgets everything in memory (after an identity change). */
  clear(): void {
    this.#initiators.clear();
    this.#responders.clear();
    this.#cache.clear();
  }

  #load(peer: string): E2ESession[] {
    let list = this.#cache.get(peer);
    if (!list) {
      const rows = this.store.stmt(
        "SELECT sid, state FROM sessions WHERE me = ? AND peer = ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
      ).all(this.#me, peer, KEEP) as { sid: string; state: Uint8Array }[];
      list = rows.map((r) =>
        E2ESession.parse(
          this.store.sealer.open(r.state, SEALED.session, `${this.#me}/${peer}/${r.sid}`),
        )
      );
      this.#cache.set(peer, list);
    }
    return list;
  }

  /** The session messages to `peer` are sealed with, if any. */
  current(peer: string): E2ESession | undefined {
    return this.#load(peer)[0];
  }

  /** Number of peers with a session. */
  count(): number {
    return Number(
      (this.store.stmt("SELECT count(DISTINCT peer) AS n FROM sessions WHERE me = ?")
        .get(this.#me) as { n: number }).n,
    );
  }

  /** True while a handshake we started with `peer` is young enough to wait for. */
  handshakePending(peer: string): boolean {
    const i = this.#initiators.get(peer);
    return !!i && this.now() - i.at < HANDSHAKE_TIMEOUT_MS;
  }

  /** Forgets a handshake we started (its first message did not reach the peer). */
  abandon(peer: string): void {
    this.#initiators.delete(peer);
  }

  /** Starts a handshake with `peer`; returns HS1. */
  async startHandshake(peer: string, peerId: Uint8Array): Promise<Uint8Array> {
    const hs = new E2EInitiator(this.self.e2e, peerId, crypto.getRandomValues(new Uint8Array(8)));
    this.#initiators.set(peer, { hs, at: this.now() });
    return await hs.start();
  }

  /** Handles a handshake envelope from `peer` (as named by the relay). */
  async handshake(peer: string, peerId: Uint8Array, env: Envelope): Promise<HandshakeOutcome> {
    const hid = toBase64Url(env.id);
    switch (env.kind) {
      case "hs1": {
        const mine = this.#initiators.get(peer);
        if (mine && this.handshakePending(peer) && lessThan(this.self.id, peerId)) {
          return {}; // both started: ours (lower id) wins; the peer answers ours
        }
        this.#initiators.delete(peer);
        const r = new E2EResponder(this.self.e2e, peerId, env.id);
        const reply = await r.accept(env.body);
        this.#responders.set(peer, r);
        return { reply };
      }
      case "hs2": {
        const mine = this.#initiators.get(peer);
        if (!mine || toBase64Url(mine.hs.hid) !== hid) return {}; // stale or unasked
        this.#initiators.delete(peer);
        const { envelope, result } = await mine.hs.finish(env.body);
        return { reply: envelope, established: result };
      }
      case "hs3": {
        const r = this.#responders.get(peer);
        if (!r || toBase64Url(r.hid) !== hid) return {};
        this.#responders.delete(peer);
        return { established: await r.finish(env.body) };
      }
      default:
        throw new ProtocolError("internal", `Not a handshake envelope: ${env.kind}`);
    }
  }

  /** Makes `session` the current one for `peer` and stores it (inside the caller's transaction). */
  install(peer: string, session: E2ESession): void {
    const list = [
      session,
      ...this.#load(peer).filter((s) => toBase64Url(s.sid) !== toBase64Url(session.sid)),
    ]
      .slice(0, KEEP);
    this.#cache.set(peer, list);
    this.store.stmt("DELETE FROM sessions WHERE me = ? AND peer = ?").run(this.#me, peer);
    const ins = this.store.stmt(
      "INSERT INTO sessions (me, peer, sid, state, created_at, skipped_until) VALUES (?, ?, ?, ?, ?, ?)",
    );
    const t = this.now();
    list.forEach((s, i) =>
      ins.run(this.#me, peer, toBase64Url(s.sid), this.#seal(peer, s), t - i, s.skippedExpiry)
    );
  }

  /** Forgets every session and handshake with `peer` (a request dropped, an id blocked). */
  forget(peer: string): void {
    this.#cache.delete(peer);
    this.#initiators.delete(peer);
    this.#responders.delete(peer);
    this.store.stmt("DELETE FROM sessions WHERE me = ? AND peer = ?").run(this.#me, peer);
  }

  /** True when we have a session with `peer`. */
  has(peer: string): boolean {
    return this.#load(peer).length > 0;
  }

  /**
   * Opens a MSG envelope from `peer` with whichever of its sessions it belongs to (newest
   * first); only that session changes. Throws `auth_failed` when none authenticates it (a
   * session we no longer have, or a forgery), else the first other refusal (`replayed`,
   * `session_unknown`, `rate_limited`).
   */
  async open(
    peer: string,
    envelope: Uint8Array,
    deps: RatchetDeps,
  ): Promise<{ session: E2ESession; plaintext: Uint8Array }> {
    let refusal: unknown;
    for (const session of this.#load(peer)) {
      try {
        return { session, plaintext: await session.open(envelope, deps) };
      } catch (e) {
        if ((e as { code?: string }).code !== "auth_failed") refusal ??= e;
      }
    }
    throw refusal ?? new ProtocolError("auth_failed", "Authentication failed");
  }

  /** Stores a session's advanced state (inside the caller's transaction). */
  save(peer: string, session: E2ESession): void {
    this.store.stmt(
      "UPDATE sessions SET state = ?, skipped_until = ? WHERE me = ? AND peer = ? AND sid = ?",
    ).run(
      this.#seal(peer, session),
      session.skippedExpiry,
      this.#me,
      peer,
      toBase64Url(session.sid),
    );
  }

  /** True when a session holds a skipped message key that has expired at `now`. */
  expiryDue(now: number): boolean {
    return this.store.stmt(
      "SELECT 1 FROM sessions WHERE me = ? AND skipped_until IS NOT NULL AND skipped_until < ? LIMIT 1",
    ).get(this.#me, now) !== undefined;
  }

  /**
   * Drops the expired skipped keys of every session that holds one and saves it (inside the
   * caller's transaction): a key skipped in a session that then went quiet would otherwise stay
   * on disk until its next message. Returns the sessions that dropped keys.
   */
  expireSkipped(now: number): number {
    const rows = this.store.stmt(
      "SELECT DISTINCT peer FROM sessions WHERE me = ? AND skipped_until IS NOT NULL AND skipped_until < ?",
    ).all(this.#me, now) as { peer: string }[];
    let n = 0;
    for (const { peer } of rows) {
      // Each of the peer's sessions is saved: its column then holds its next expiry (or NULL),
      // also for one stored before the column existed (migration 8 set it due).
      for (const s of this.#load(peer)) {
        if (s.expireSkipped(now)) n++;
        this.save(peer, s);
      }
    }
    return n;
  }
}
