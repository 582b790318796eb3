/**
 * The protocol's face: wire formats, handshakes, sessions and the byte and crypto helpers that
 * the relay, the daemon and the CLI use. Other folders import from here; the files behind it
 * (and `_crypto.ts`, private to the folder but for the key pairs re-exported here) may move.
 *
 * Nothing here does I/O or reads a clock: see `protocol/README.md` for the specification.
 *
 * @example
 * ```ts
 * import { formatId, parseId, toBase64Url } from "../protocol/mod.ts";
 *
 * formatId(parseId("0b3e51c2-6f1d-8a4e-9c1b-2d3e4f5a6b7c")); // the same text, lowercased
 * toBase64Url(new Uint8Array([255])); // "_w"
 * ```
 * @module
 */
export {
  concat,
  constantTimeEqual,
  fromBase64Url,
  fromHex,
  toBase64Url,
  toHex,
  utf8,
  utf8Strict,
} from "./bytes.ts";
export {
  dhFromSecret,
  type DhKeyPair,
  randomSecret,
  signingKeyFromSeed,
  type SigningKeyPair,
} from "./_crypto.ts";
export { formatRelayAddress, parseRelayAddress, type RelayAddress } from "./address.ts";
export { Channel } from "./channel.ts";
export {
  E2E_VERSIONS,
  KEY_LEN,
  LINK_MAX_HANDSHAKE_MESSAGE,
  MAX_TEXT_BYTES,
  MAX_WIRE_MESSAGE,
  PAD_BUCKETS,
} from "./constants.ts";
export {
  E2EInitiator,
  type E2EKeys,
  E2EResponder,
  type E2EResult,
  PeerVersionError,
  signStatic,
} from "./e2e_handshake.ts";
export {
  HYBRID_MSG1_OVERHEAD,
  HYBRID_MSG2_OVERHEAD,
  HYBRID_PROTOCOL_NAME,
  type HybridDeps,
  HybridInitiator,
  HybridResponder,
  type HybridResult,
} from "./e2e_hybrid.ts";
export { type Envelope, isRatchetMessage, pad, parseEnvelope, unpad } from "./envelope.ts";
export { codeFromNumber, ERROR_CODES, type ErrorCode, ProtocolError } from "./errors.ts";
export { encodeFrame, type Frame, type SendStatus } from "./frames.ts";
export {
  clientIdFromPublicKey,
  fingerprint,
  formatId,
  idMatchesKey,
  isIdText,
  parseId,
  safetyNumber,
} from "./identity.ts";
export { LinkInitiator, type LinkLogin, LinkResponder } from "./link_handshake.ts";
export { encodePayload, parsePayload, type Payload } from "./payload.ts";
export {
  initRatchet,
  type KdfMeter,
  parseRatchet,
  ratchetDecrypt,
  type RatchetDeps,
  ratchetEncrypt,
  ratchetEncryptSync,
  type RatchetInit,
  ratchetPrepare,
  type RatchetState,
  serializeRatchet,
} from "./ratchet.ts";
export { makeRotation, type Rotation, ROTATION_LEN, verifyRotation } from "./rotation.ts";
export { E2ESession } from "./session.ts";
export { TokenBucket } from "./token_bucket.ts";
