/**
 * The end-to-end handshake between two daemons (protocol/README.md, section 11.2): the hybrid
 * Noise XXhfs of e2e_hybrid.ts (X25519 + ML-KEM-768) carried in HS1–HS3 envelopes, with a
 * capability exchange, and a Double Ratchet session (session.ts) as its result.
 *
 * - The prologue is E2E_PROLOGUE_LABEL ‖ 1 ‖ initiator id ‖ responder id, as in schied/1: both
 *   sides must agree on who talks to whom, and a schied/1 daemon computes the same one.
 * - Message 1's payload is our list of end-to-end versions; message 2's payload is the
 *   responder's vouch ‖ the version it chose. Both are in the handshake hash, so a relay that
 *   edits either breaks the handshake: no downgrade. Versions below E2E_VERSIONS are never run.
 * - A schied/1 peer is recognised, authenticated, and refused (PeerVersionError): as responder
 *   it answers our HS1 with a classical 192-byte HS2, which a shadow classical XX state (same
 *   prologue, same ephemeral, message 1's rest as its payload) reads and whose vouch it checks;
 *   as initiator it sends a 32-byte HS1, which we answer classically to read its vouch in HS3.
 *   No schied/1 session is ever made: the error says which peer runs the older release.
 *
 * @module
 */
import { concat, utf8 } from "./bytes.ts";
import {
  CLASSICAL_HS_LEN,
  E2E_MAX_OFFERED,
  E2E_PROLOGUE_LABEL,
  E2E_STATIC_LABEL,
  E2E_VERSIONS,
  PROTOCOL_VERSION,
} from "./constants.ts";
import { type DhKeyPair, generateDhSync, sign, type SigningKeyPair } from "./_crypto.ts";
import { authFailed, ProtocolError } from "./errors.ts";
import { encodeEnvelope } from "./envelope.ts";
import { HandshakeState } from "./noise.ts";
import { E2ESession } from "./session.ts";
import { checkVouch, HybridInitiator, HybridResponder, type HybridResult } from "./e2e_hybrid.ts";

const STATIC_LABEL = utf8.encode(E2E_STATIC_LABEL);

/** The prologue of a handshake from `initiator` to `responder`. */
export function e2ePrologue(initiator: Uint8Array, responder: Uint8Array): Uint8Array {
  return concat(
    utf8.encode(E2E_PROLOGUE_LABEL),
    Uint8Array.of(PROTOCOL_VERSION),
    initiator,
    responder,
  );
}

/** Signs our Noise static key with our identity (done once per static key). */
export async function signStatic(
  identity: SigningKeyPair,
  staticPub: Uint8Array,
): Promise<Uint8Array> {
  return concat(identity.publicKey, await sign(identity, concat(STATIC_LABEL, staticPub)));
}

/** A daemon's long-term end-to-end keys. */
export interface E2EKeys {
  /** Our client_id. */
  id: Uint8Array;
  /** Our Noise static key pair. */
  staticKey: DhKeyPair;
  /** identity public key ‖ signature over our static key (from signStatic). */
  vouch: Uint8Array;
}

/** A finished handshake. */
export interface E2EResult {
  session: E2ESession;
  /** The peer's identity public key, checked against its id. */
  peerIdentityKey: Uint8Array;
  /** The end-to-end version both chose. */
  version: number;
}

/**
 * The peer runs schied/1, proven by its vouch: `role` is ours (`initiator`: it answered our HS1;
 * `responder`: it sent us its HS1). Code `peer_version`.
 */
export class PeerVersionError extends ProtocolError {
  /** Makes the error; the peer's identity key is authenticated. */
  constructor(readonly role: "initiator" | "responder", readonly peerIdentityKey: Uint8Array) {
    super(
      "peer_version",
      `The peer runs schied/1 (end-to-end version 1), which this release refuses`,
    );
    this.name = "PeerVersionError";
  }
}

/** Encodes a capability list: n (u8) ‖ versions (u8 each). */
export function encodeCaps(versions: readonly number[]): Uint8Array {
  if (versions.length < 1 || versions.length > E2E_MAX_OFFERED) {
    throw new TypeError(`A capability list has 1..${E2E_MAX_OFFERED} versions`);
  }
  return Uint8Array.of(versions.length, ...versions);
}

/** Parses a capability list strictly; null when malformed. */
export function parseCaps(b: Uint8Array): number[] | null {
  if (b.length < 2 || b[0] !== b.length - 1 || b[0]! > E2E_MAX_OFFERED) return null;
  return [...b.subarray(1)];
}

/** The version a responder picks: the first of ours the initiator offered; null if none. */
export function chooseVersion(
  offered: readonly number[],
  ours: readonly number[] = E2E_VERSIONS,
): number | null {
  return ours.find((v) => offered.includes(v)) ?? null;
}

/** Injected parts, for tests. */
export interface E2EHandshakeDeps {
  /** Our versions, best first (default E2E_VERSIONS; tests offer others). */
  versions?: readonly number[];
}

/**
 * The dialing side.
 *
 * @example
 * ```ts
 * const hs = new E2EInitiator(myKeys, peerId, hid);
 * const hs1 = await hs.start();           // send to the peer
 * const { envelope, result } = await hs.finish(hs2Body); // send envelope (HS3)
 * ```
 */
export class E2EInitiator {
  readonly #keys: E2EKeys;
  readonly #peer: Uint8Array;
  readonly #versions: readonly number[];
  readonly #hybrid: HybridInitiator;
  /** The same message 1 as classical XX: reads a schied/1 peer's HS2 to authenticate it. */
  readonly #shadow: HandshakeState;
  /** The handshake attempt id. */
  readonly hid: Uint8Array;

  /** Prepares a handshake with `peer`; `hid` is 8 random bytes. */
  constructor(keys: E2EKeys, peer: Uint8Array, hid: Uint8Array, deps: E2EHandshakeDeps = {}) {
    this.#keys = keys;
    this.#peer = peer;
    this.hid = hid;
    this.#versions = deps.versions ?? E2E_VERSIONS;
    // One ephemeral for both states, so that both compute message 1's `e` identically.
    const e = generateDhSync();
    this.#hybrid = new HybridInitiator(keys, peer, { e });
    this.#shadow = new HandshakeState({
      pattern: "XX",
      initiator: true,
      prologue: e2ePrologue(keys.id, peer),
      s: keys.staticKey,
      e,
    });
  }

  /** HS1: the hybrid message 1 with our versions as its payload. */
  async start(): Promise<Uint8Array> {
    const msg1 = await this.#hybrid.start(encodeCaps(this.#versions));
    // A schied/1 responder reads `e` and takes the rest as a cleartext payload: so does the shadow.
    await this.#shadow.writeMessage(msg1.subarray(32));
    return encodeEnvelope("hs1", this.hid, msg1);
  }

  /**
   * Reads HS2's body, checks the peer and the chosen version, and returns HS3 and the session.
   * Throws PeerVersionError when a schied/1 peer answered (its vouch checked).
   */
  async finish(hs2Body: Uint8Array): Promise<{ envelope: Uint8Array; result: E2EResult }> {
    if (hs2Body.length === CLASSICAL_HS_LEN.hs2) {
      const { payload } = await this.#shadow.readMessage(hs2Body);
      const key = checkVouch(payload, this.#peer, this.#shadow.remoteStatic);
      throw new PeerVersionError("initiator", key);
    }
    const { message, result, extra } = await this.#hybrid.finish(hs2Body, 1);
    const version = extra[0]!;
    // The responder must pick one of ours; anything else is a broken or edited handshake.
    if (!this.#versions.includes(version)) throw authFailed();
    return {
      envelope: encodeEnvelope("hs3", this.hid, message),
      result: await sessionOf(result, true, this.#keys.id, this.#peer, version),
    };
  }
}

/** The answering side; `peer` is the sender id the relay named. */
export class E2EResponder {
  readonly #keys: E2EKeys;
  readonly #peer: Uint8Array;
  readonly #versions: readonly number[];
  readonly #hybrid: HybridResponder;
  #legacy: HandshakeState | null = null;
  #version = 0;
  /** The handshake attempt id (from HS1). */
  readonly hid: Uint8Array;

  /** Prepares to answer HS1 with id `hid` from `peer`. */
  constructor(keys: E2EKeys, peer: Uint8Array, hid: Uint8Array, deps: E2EHandshakeDeps = {}) {
    this.#keys = keys;
    this.#peer = peer;
    this.hid = hid;
    this.#versions = deps.versions ?? E2E_VERSIONS;
    this.#hybrid = new HybridResponder(keys, peer);
  }

  /**
   * Reads HS1's body and returns HS2. A schied/1 HS1 (32 bytes) is answered classically, only
   * so that its HS3 proves who sent it (see finish); malformed ones fail with `auth_failed`.
   */
  async accept(hs1Body: Uint8Array): Promise<Uint8Array> {
    if (hs1Body.length === CLASSICAL_HS_LEN.hs1) {
      const hs = this.#legacy = new HandshakeState({
        pattern: "XX",
        initiator: false,
        prologue: e2ePrologue(this.#peer, this.#keys.id),
        s: this.#keys.staticKey,
      });
      await hs.readMessage(hs1Body);
      return encodeEnvelope("hs2", this.hid, await hs.writeMessage(this.#keys.vouch));
    }
    const msg2 = await this.#hybrid.accept(hs1Body, (payload) => {
      const offered = parseCaps(payload);
      const v = offered && chooseVersion(offered, this.#versions);
      if (!v) throw authFailed(); // malformed, or nothing in common (a newer-only peer)
      this.#version = v;
      return Uint8Array.of(v);
    });
    return encodeEnvelope("hs2", this.hid, msg2);
  }

  /**
   * Reads HS3's body, checks the peer, and returns the session; throws PeerVersionError for a
   * schied/1 initiator whose vouch checked.
   */
  async finish(hs3Body: Uint8Array): Promise<E2EResult> {
    if (this.#legacy) {
      const { payload } = await this.#legacy.readMessage(hs3Body);
      const key = checkVouch(payload, this.#peer, this.#legacy.remoteStatic);
      throw new PeerVersionError("responder", key);
    }
    const r = await this.#hybrid.finish(hs3Body);
    return await sessionOf(r, false, this.#keys.id, this.#peer, this.#version);
  }
}

async function sessionOf(
  r: HybridResult,
  initiator: boolean,
  localId: Uint8Array,
  peerId: Uint8Array,
  version: number,
): Promise<E2EResult> {
  const session = await E2ESession.fromHandshake({
    h: r.handshakeHash,
    split: r.keys,
    initiator,
    localId,
    peerId,
  });
  return { session, peerIdentityKey: r.peerIdentityKey, version };
}
