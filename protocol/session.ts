/**
 * An established end-to-end session (protocol/README.md, section 13): the Double Ratchet of
 * ratchet.ts, with header encryption and the sparse ML-KEM-768 step, seeded from the hybrid
 * handshake (e2e_handshake.ts). The ratchet's functions are pure and return new states; this
 * class holds the current one and replaces it only when an operation succeeded, so a message
 * that fails to open leaves the session exactly as it was.
 *
 * A MSG envelope *is* a ratchet message (`version 2 ‖ shape ‖ encrypted header ‖ body`): no
 * session id, counter or ratchet key in clear. Which of a peer's sessions a MSG belongs to is
 * found by trying to open its header (daemon/sessions.ts).
 *
 * @module
 */
import { sha256 } from "./_crypto.ts";
import {
  expireSkipped,
  initRatchet,
  parseRatchet,
  ratchetDecrypt,
  type RatchetDeps,
  ratchetEncryptSync,
  type RatchetInit,
  ratchetPrepare,
  ratchetPrepareSync,
  type RatchetState,
  serializeRatchet,
  skippedExpiry,
} from "./ratchet.ts";

/**
 * One end-to-end session.
 *
 * @example
 * ```ts
 * const env = await session.seal(padded, now);
 * const inner = await peerSession.open(env, now);
 * ```
 */
export class E2ESession {
  /** A local name of the session (the first 8 bytes of the handshake hash); never on the wire. */
  readonly sid: Uint8Array;
  #state: RatchetState;

  private constructor(state: RatchetState) {
    this.#state = state;
    this.sid = state.h.slice(0, 8);
  }

  /** Starts a session from a finished handshake. */
  static async fromHandshake(init: RatchetInit): Promise<E2ESession> {
    return new E2ESession(await initRatchet(init));
  }

  /** True when the next seal starts a new sending chain (a DH step: call `prepare` first). */
  get needsStep(): boolean {
    return this.#state.pendingStep;
  }

  /** Messages sealed in the current sending chain. */
  get sendCount(): number {
    return this.#state.ns;
  }

  /** The ratchet's step number (DH steps so far; 0 right after the handshake). */
  get step(): number {
    return this.#state.step;
  }

  /** When its oldest skipped message key expires, or null when it holds none. */
  get skippedExpiry(): number | null {
    return skippedExpiry(this.#state);
  }

  /**
   * Drops the skipped message keys that expired at `now` (forward secrecy for a session that
   * stays idle: its next message would drop them too). True when it dropped any: save it.
   */
  expireSkipped(now: number): boolean {
    const next = expireSkipped(this.#state, now);
    if (next === this.#state) return false;
    this.#state = next;
    return true;
  }

  /** A digest of the whole state (tests compare states without reading keys). */
  digest(): Uint8Array {
    return sha256(serializeRatchet(this.#state));
  }

  /** Performs a pending DH step, so that `sealSync` can run. */
  async prepare(deps: RatchetDeps): Promise<void> {
    this.#state = await ratchetPrepare(this.#state, deps);
  }

  /**
   * `prepare` on the calling thread, for a caller inside a database transaction (the daemon
   * seals an accepted message in the write that accepts it, DH step included).
   */
  prepareSync(deps: RatchetDeps): void {
    this.#state = ratchetPrepareSync(this.#state, deps);
  }

  /**
   * Seals a padded inner payload into a MSG envelope. The state advances before the ciphertext
   * exists: the caller must persist the session before the envelope leaves, so no key is ever
   * used twice even across a crash.
   */
  async seal(padded: Uint8Array, deps: RatchetDeps): Promise<Uint8Array> {
    await this.prepare(deps);
    return this.sealSync(padded, deps);
  }

  /** `seal` when no step is pending (see needsStep); throws `internal` otherwise. */
  sealSync(padded: Uint8Array, deps: RatchetDeps): Uint8Array {
    const r = ratchetEncryptSync(this.#state, padded, deps);
    this.#state = r.state;
    return r.message;
  }

  /**
   * Opens a MSG envelope. The state changes only when it opens: `auth_failed` for anything that
   * does not authenticate (another session's, forged, tampered), `replayed` for a message already
   * opened, `session_unknown` for a gap over the skip limit (refused before deriving any key).
   */
  async open(envelope: Uint8Array, deps: RatchetDeps): Promise<Uint8Array> {
    const r = await ratchetDecrypt(this.#state, envelope, deps);
    this.#state = r.state;
    return r.plaintext;
  }

  /** The storable form (ratchet state version first; section 13.6). */
  serialize(): Uint8Array {
    return serializeRatchet(this.#state);
  }

  /** Restores a stored session; `bad_frame` on any defect. */
  static parse(bytes: Uint8Array): E2ESession {
    return new E2ESession(parseRatchet(bytes));
  }
}
