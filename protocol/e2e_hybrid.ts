/**
 * The hybrid end-to-end handshake: Noise XX with ML-KEM-768 mixed in by Noise's HFS extension,
 * as `Noise_XXhfs_25519+MLKEM768_AESGCM_SHA256` (state machine in _hybrid_state.ts).
 *
 * Same prologue and vouches as schied/1's classical XX; the changes are the KEM tokens (`e1` in
 * message 1, `ekem1` in message 2), the protocol name, and the capability bytes that message 1's
 * payload and message 2's payload (after the vouch) may carry for e2e_handshake.ts's version
 * exchange. Recorded traffic stays secret as long as either X25519 or ML-KEM-768 holds;
 * authentication stays classical (Ed25519 vouches over X25519 static keys).
 *
 * These classes return raw handshake bodies and raw Split() keys; e2e_handshake.ts puts them in
 * envelopes and starts the ratchet.
 *
 * @example
 * ```ts
 * const ini = new HybridInitiator(aliceKeys, bobId);
 * const resp = new HybridResponder(bobKeys, aliceId);
 * const m2 = await resp.accept(await ini.start());
 * const { message: m3, result } = await ini.finish(m2);
 * const theirs = await resp.finish(m3); // theirs.keys equal result.keys
 * ```
 * @module
 */
import { concat, utf8 } from "./bytes.ts";
import { E2E_STATIC_LABEL, KEY_LEN, SIGNATURE_LEN } from "./constants.ts";
import { type DhKeyPair, verify } from "./_crypto.ts";
import { authFailed, ProtocolError } from "./errors.ts";
import { idMatchesKey } from "./identity.ts";
import { type E2EKeys, e2ePrologue } from "./e2e_handshake.ts";
import { HybridHandshakeState, type HybridKem } from "./_hybrid_state.ts";

export { HYBRID_PROTOCOL_NAME, type HybridKem, ML_KEM_768 } from "./_hybrid_state.ts";

/** Bytes the hybrid handshake adds to message 1: the ML-KEM-768 encapsulation key, in clear. */
export const HYBRID_MSG1_OVERHEAD = 1184;
/** Bytes it adds to message 2: the ML-KEM-768 ciphertext, encrypted (1088 + 16 tag). */
export const HYBRID_MSG2_OVERHEAD = 1088 + 16;

const STATIC_LABEL = utf8.encode(E2E_STATIC_LABEL);

/** Injected randomness and KEM, for tests. */
export interface HybridDeps {
  /** Random bytes (the KEM seed and coins); default the CSPRNG. */
  random?: (n: number) => Uint8Array;
  /** The KEM; default ML-KEM-768. */
  kem?: HybridKem;
  /** A fixed X25519 ephemeral key pair. */
  e?: DhKeyPair;
}

/** A finished hybrid handshake. */
export interface HybridResult {
  /** The final handshake hash (channel binding; a session id would be its first 8 bytes). */
  handshakeHash: Uint8Array;
  /** Split()'s raw keys: [initiator→responder, responder→initiator]. */
  keys: [Uint8Array, Uint8Array];
  /** The peer's identity public key, checked against its id. */
  peerIdentityKey: Uint8Array;
}

/** Bytes of a vouch: identity public key ‖ signature. */
export const VOUCH_LEN = KEY_LEN + SIGNATURE_LEN;

/**
 * Checks a vouch (exactly VOUCH_LEN bytes) for `peerId` over the Noise static key `rs`; returns
 * the identity key. `auth_failed` for a malformed one, `key_mismatch` for a wrong key or signature.
 */
export function checkVouch(payload: Uint8Array, peerId: Uint8Array, rs: Uint8Array | undefined) {
  if (payload.length !== VOUCH_LEN || !rs) {
    throw new ProtocolError("auth_failed", "Handshake payload malformed");
  }
  const idKey = payload.slice(0, KEY_LEN);
  if (!idMatchesKey(peerId, idKey)) {
    throw new ProtocolError("key_mismatch", "The peer's identity key does not match its id");
  }
  if (!verify(idKey, concat(STATIC_LABEL, rs), payload.subarray(KEY_LEN))) {
    throw new ProtocolError("key_mismatch", "The peer's identity did not sign its session key");
  }
  return idKey;
}

function state(keys: E2EKeys, initiator: boolean, peer: Uint8Array, deps: HybridDeps) {
  return new HybridHandshakeState({
    initiator,
    prologue: initiator ? e2ePrologue(keys.id, peer) : e2ePrologue(peer, keys.id),
    s: keys.staticKey,
    ...deps,
  });
}

/** Runs a check on a payload; if it throws, the handshake is closed first (no later call on it). */
function closingOnFailure<T>(hs: HybridHandshakeState, check: () => T): T {
  try {
    return check();
  } catch (e) {
    hs.close();
    throw e;
  }
}

/** The dialing side. */
export class HybridInitiator {
  readonly #hs: HybridHandshakeState;
  readonly #keys: E2EKeys;
  readonly #peer: Uint8Array;

  /** Prepares a hybrid handshake with `peer`. */
  constructor(keys: E2EKeys, peer: Uint8Array, deps: HybridDeps = {}) {
    this.#keys = keys;
    this.#peer = peer;
    this.#hs = state(keys, true, peer, deps);
  }

  /** True once a failure has closed the handshake. */
  get closed(): boolean {
    return this.#hs.closed;
  }

  /** Message 1: `e` (32) ‖ `e1` (1184) ‖ `payload` (in clear, but in the hash; default empty). */
  start(payload: Uint8Array = new Uint8Array()): Promise<Uint8Array> {
    return this.#hs.writeMessage(payload);
  }

  /**
   * Reads message 2, checks the peer's vouch (its payload's first VOUCH_LEN bytes, followed by
   * exactly `extraLen` more, else `auth_failed`), and returns message 3, the keys, and those
   * further bytes (`extra`) for the caller to check.
   */
  async finish(
    msg2: Uint8Array,
    extraLen = 0,
  ): Promise<{ message: Uint8Array; result: HybridResult; extra: Uint8Array }> {
    const { payload } = await this.#hs.readMessage(msg2);
    const peerIdentityKey = closingOnFailure(this.#hs, () => {
      if (payload.length !== VOUCH_LEN + extraLen) throw authFailed();
      return checkVouch(payload.subarray(0, VOUCH_LEN), this.#peer, this.#hs.remoteStatic);
    });
    const message = await this.#hs.writeMessage(this.#keys.vouch);
    return {
      message,
      result: { handshakeHash: this.#hs.handshakeHash, keys: this.#hs.splitRaw(), peerIdentityKey },
      extra: payload.slice(VOUCH_LEN),
    };
  }
}

/** The answering side; `peer` is the sender id the relay named. */
export class HybridResponder {
  readonly #hs: HybridHandshakeState;
  readonly #keys: E2EKeys;
  readonly #peer: Uint8Array;

  /** Prepares to answer a hybrid message 1 from `peer`. */
  constructor(keys: E2EKeys, peer: Uint8Array, deps: HybridDeps = {}) {
    this.#keys = keys;
    this.#peer = peer;
    this.#hs = state(keys, false, peer, deps);
  }

  /** True once a failure has closed the handshake. */
  get closed(): boolean {
    return this.#hs.closed;
  }

  #accepted = false;

  /**
   * Reads message 1 and returns message 2, whose payload is our vouch ‖ `answer(payload of
   * message 1)` (default: nothing after the vouch). `answer` may throw to refuse message 1.
   */
  async accept(
    msg1: Uint8Array,
    answer: (payload: Uint8Array) => Uint8Array = () => new Uint8Array(),
  ): Promise<Uint8Array> {
    if (this.#accepted) throw new ProtocolError("internal", "Handshake: message 1 already read");
    this.#accepted = true;
    const { payload } = await this.#hs.readMessage(msg1);
    const extra = closingOnFailure(this.#hs, () => answer(payload));
    return await this.#hs.writeMessage(concat(this.#keys.vouch, extra));
  }

  /** Reads message 3, checks the peer, and returns the keys. */
  async finish(msg3: Uint8Array): Promise<HybridResult> {
    if (!this.#accepted) throw new ProtocolError("internal", "Handshake: message 1 not read");
    const { payload } = await this.#hs.readMessage(msg3);
    const peerIdentityKey = closingOnFailure(
      this.#hs,
      () => checkVouch(payload, this.#peer, this.#hs.remoteStatic),
    );
    return { handshakeHash: this.#hs.handshakeHash, keys: this.#hs.splitRaw(), peerIdentityKey };
  }
}
