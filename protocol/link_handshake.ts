/**
 * The daemon ↔ relay link handshake: Noise_XK_25519_AESGCM_SHA256 plus a login.
 *
 * Three WebSocket messages:
 * 1. daemon → relay: `n (u8) ‖ n offered versions (u8 each) ‖ Noise message 1` (e, es).
 *    The prologue is LINK_PROLOGUE_LABEL ‖ n ‖ versions, so stripping a version breaks the
 *    handshake. Because msg 1 is encrypted to the pinned relay key (es), an impostor relay
 *    cannot answer it and the daemon stops before revealing anything.
 * 2. relay → daemon: Noise message 2 (e, ee), payload = the chosen version (u8).
 * 3. daemon → relay: Noise message 3 (s, se), payload = identity public key (32) ‖
 *    Ed25519 signature (64) over LINK_AUTH_LABEL ‖ h, where h is the handshake hash after
 *    message 3's tokens. h covers the prologue, both ephemerals and both static keys, so the
 *    signature proves the identity holder took part in this very session (no replay, no relay
 *    to another session), which the original's signature over a constant id did not.
 *
 * Every failure, whatever its cause, is the one `auth_failed` error.
 *
 * @module
 */
import { concat, utf8 } from "./bytes.ts";
import {
  KEY_LEN,
  LINK_AUTH_LABEL,
  LINK_PROLOGUE_LABEL,
  SIGNATURE_LEN,
  SUPPORTED_VERSIONS,
} from "./constants.ts";
import { type DhKeyPair, sign, type SigningKeyPair, verifyStrict } from "./_crypto.ts";
import { authFailed, ProtocolError } from "./errors.ts";
import { clientIdFromPublicKey } from "./identity.ts";
import { type CipherState, HandshakeState } from "./noise.ts";

const AUTH_LABEL = utf8.encode(LINK_AUTH_LABEL);

/** The prologue both sides mix in: label, count, offered versions. */
export function linkPrologue(versions: readonly number[]): Uint8Array {
  return concat(utf8.encode(LINK_PROLOGUE_LABEL), Uint8Array.of(versions.length, ...versions));
}

/** The bytes a login signature covers. */
export function loginSignedBytes(h: Uint8Array): Uint8Array {
  return concat(AUTH_LABEL, h);
}

/** The transport keys of a finished link. */
export interface LinkKeys {
  /** Encrypts what we send. */
  send: CipherState;
  /** Decrypts what we receive. */
  recv: CipherState;
  /** The negotiated protocol version. */
  version: number;
  /** The final handshake hash. */
  handshakeHash: Uint8Array;
}

/** The daemon's side of the link handshake. */
export class LinkInitiator {
  readonly #hs: HandshakeState;
  readonly #identity: SigningKeyPair;
  readonly #versions: readonly number[];
  #version = 0;

  /**
   * @param relayKey the relay's pinned static X25519 public key (from the relay address)
   * @param linkKey the daemon's static X25519 key pair
   * @param identity the daemon's Ed25519 identity
   */
  constructor(
    relayKey: Uint8Array,
    linkKey: DhKeyPair,
    identity: SigningKeyPair,
    versions: readonly number[] = SUPPORTED_VERSIONS,
  ) {
    this.#identity = identity;
    this.#versions = versions;
    this.#hs = new HandshakeState({
      pattern: "XK",
      initiator: true,
      prologue: linkPrologue(versions),
      s: linkKey,
      rs: relayKey,
    });
  }

  /** Message 1. */
  async start(): Promise<Uint8Array> {
    const m = await this.#hs.writeMessage(new Uint8Array());
    return concat(Uint8Array.of(this.#versions.length, ...this.#versions), m);
  }

  /** Reads message 2 and writes message 3 (the login). */
  async finish(msg2: Uint8Array): Promise<{ msg3: Uint8Array; keys: LinkKeys }> {
    const { payload } = await this.#hs.readMessage(msg2);
    if (payload.length !== 1 || !this.#versions.includes(payload[0]!)) throw authFailed();
    this.#version = payload[0]!;
    const msg3 = await this.#hs.writeMessage(async (h) =>
      concat(this.#identity.publicKey, await sign(this.#identity, loginSignedBytes(h)))
    );
    const [i2r, r2i] = await this.#hs.split();
    return {
      msg3,
      keys: { send: i2r, recv: r2i, version: this.#version, handshakeHash: this.#hs.handshakeHash },
    };
  }
}

/** What the relay learns from a successful login. */
export interface LinkLogin extends LinkKeys {
  /** The daemon's identity public key. */
  identityKey: Uint8Array;
  /** The client_id derived from it (never a claimed id). */
  clientId: Uint8Array;
}

/** The relay's side of the link handshake. */
export class LinkResponder {
  readonly #staticKey: DhKeyPair;
  #hs: HandshakeState | undefined;
  #version = 0;

  /** @param staticKey the relay's static X25519 key pair */
  constructor(staticKey: DhKeyPair) {
    this.#staticKey = staticKey;
  }

  /** Reads message 1 and writes message 2. */
  async accept(msg1: Uint8Array): Promise<Uint8Array> {
    if (this.#hs) throw new ProtocolError("internal", "Handshake already started");
    if (msg1.length < 1) throw authFailed();
    const n = msg1[0]!;
    if (n === 0 || n > 16 || msg1.length < 1 + n) throw authFailed();
    const offered = Array.from(msg1.subarray(1, 1 + n));
    this.#hs = new HandshakeState({
      pattern: "XK",
      initiator: false,
      prologue: linkPrologue(offered),
      s: this.#staticKey,
    });
    const { payload } = await this.#hs.readMessage(msg1.subarray(1 + n));
    if (payload.length !== 0) throw authFailed(); // strict: version 1 sends no payload here
    // Only after message 1 authenticated the prologue do we trust the offered list.
    const version = SUPPORTED_VERSIONS.find((v) => offered.includes(v));
    if (version === undefined) {
      throw new ProtocolError("version_unsupported", `No common version in ${offered.join(",")}`);
    }
    this.#version = version;
    return await this.#hs.writeMessage(Uint8Array.of(version));
  }

  /** Reads message 3: checks the login signature and derives the id from the key. */
  async complete(msg3: Uint8Array): Promise<LinkLogin> {
    if (!this.#hs) throw new ProtocolError("internal", "Handshake not started");
    const { payload, hashBeforePayload } = await this.#hs.readMessage(msg3);
    if (payload.length !== KEY_LEN + SIGNATURE_LEN) throw authFailed();
    const identityKey = payload.slice(0, KEY_LEN);
    const sig = payload.subarray(KEY_LEN);
    if (!verifyStrict(identityKey, loginSignedBytes(hashBeforePayload), sig)) {
      throw authFailed();
    }
    const [i2r, r2i] = await this.#hs.split();
    return {
      send: r2i,
      recv: i2r,
      version: this.#version,
      handshakeHash: this.#hs.handshakeHash,
      identityKey,
      clientId: clientIdFromPublicKey(identityKey),
    };
  }
}
