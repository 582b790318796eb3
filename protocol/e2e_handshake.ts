/**
 * The end-to-end handshake between two daemons: Noise_XX_25519_AESGCM_SHA256 carried in
 * envelopes through the relay.
 *
 * - The prologue is E2E_PROLOGUE_LABEL ‖ version ‖ initiator id ‖ responder id: both sides must
 *   agree on who talks to whom, so a relay that routes A's handshake for B to C breaks it.
 * - Messages 2 and 3 carry `identity public key (32) ‖ Ed25519 signature (64)` over
 *   E2E_STATIC_LABEL ‖ the sender's Noise static key: the identity vouches for the static key
 *   that the Noise handshake then proves possession of.
 * - The initiator aborts unless the responder's identity key hashes to the id it dialed; the
 *   responder aborts unless the initiator's identity key hashes to the id the relay named as the
 *   sender. Since ids are hashes of keys, a pinned key can never be swapped: `key_mismatch`.
 *
 * @module
 */
import { concat, utf8 } from "./bytes.ts";
import {
  E2E_PROLOGUE_LABEL,
  E2E_STATIC_LABEL,
  KEY_LEN,
  PROTOCOL_VERSION,
  SIGNATURE_LEN,
} from "./constants.ts";
import { type DhKeyPair, sign, type SigningKeyPair, verify } from "./_crypto.ts";
import { ProtocolError } from "./errors.ts";
import { encodeEnvelope } from "./envelope.ts";
import { idMatchesKey } from "./identity.ts";
import { HandshakeState } from "./noise.ts";
import { E2ESession } from "./session.ts";

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
}

function checkVouch(
  payload: Uint8Array,
  peerId: Uint8Array,
  rs: Uint8Array | undefined,
): Uint8Array {
  if (payload.length !== KEY_LEN + SIGNATURE_LEN || !rs) {
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
  readonly #hs: HandshakeState;
  readonly #keys: E2EKeys;
  readonly #peer: Uint8Array;
  /** The handshake attempt id. */
  readonly hid: Uint8Array;

  /** Prepares a handshake with `peer`; `hid` is 8 random bytes. */
  constructor(keys: E2EKeys, peer: Uint8Array, hid: Uint8Array) {
    this.#keys = keys;
    this.#peer = peer;
    this.hid = hid;
    this.#hs = new HandshakeState({
      pattern: "XX",
      initiator: true,
      prologue: e2ePrologue(keys.id, peer),
      s: keys.staticKey,
    });
  }

  /** HS1. */
  async start(): Promise<Uint8Array> {
    return encodeEnvelope("hs1", this.hid, await this.#hs.writeMessage(new Uint8Array()));
  }

  /** Reads HS2's body, checks the peer, and returns HS3 and the session. */
  async finish(hs2Body: Uint8Array): Promise<{ envelope: Uint8Array; result: E2EResult }> {
    const { payload } = await this.#hs.readMessage(hs2Body);
    const peerIdentityKey = checkVouch(payload, this.#peer, this.#hs.remoteStatic);
    const msg3 = await this.#hs.writeMessage(this.#keys.vouch);
    const session = E2ESession.fromHandshake(this.#hs.handshakeHash, this.#hs.splitRaw(), true);
    return {
      envelope: encodeEnvelope("hs3", this.hid, msg3),
      result: { session, peerIdentityKey },
    };
  }
}

/** The answering side; `peer` is the sender id the relay named. */
export class E2EResponder {
  readonly #hs: HandshakeState;
  readonly #keys: E2EKeys;
  readonly #peer: Uint8Array;
  /** The handshake attempt id (from HS1). */
  readonly hid: Uint8Array;

  /** Prepares to answer HS1 with id `hid` from `peer`. */
  constructor(keys: E2EKeys, peer: Uint8Array, hid: Uint8Array) {
    this.#keys = keys;
    this.#peer = peer;
    this.hid = hid;
    this.#hs = new HandshakeState({
      pattern: "XX",
      initiator: false,
      prologue: e2ePrologue(peer, keys.id),
      s: keys.staticKey,
    });
  }

  /** Reads HS1's body and returns HS2. */
  async accept(hs1Body: Uint8Array): Promise<Uint8Array> {
    await this.#hs.readMessage(hs1Body);
    return encodeEnvelope("hs2", this.hid, await this.#hs.writeMessage(this.#keys.vouch));
  }

  /** Reads HS3's body, checks the peer, and returns the session. */
  async finish(hs3Body: Uint8Array): Promise<E2EResult> {
    const { payload } = await this.#hs.readMessage(hs3Body);
    const peerIdentityKey = checkVouch(payload, this.#peer, this.#hs.remoteStatic);
    const session = E2ESession.fromHandshake(this.#hs.handshakeHash, this.#hs.splitRaw(), false);
    return { session, peerIdentityKey };
  }
}
