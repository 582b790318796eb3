/**
 * End-to-end envelopes: what daemons put in SEND frames and the relay forwards as opaque bytes
 * (protocol/README.md, section 11.1).
 *
 * Two forms, told apart by the first byte. Handshakes: `1 ‖ kind (u8) ‖ hid (8 bytes) ‖ body`,
 * the body one hybrid Noise message (parseEnvelope). MSG: `2 ‖ …`, a Double Ratchet message with
 * an encrypted header (section 13.3; session.ts opens it), which has no id in clear. A schied/1
 * MSG (`1 ‖ 4 ‖ sid ‖ …`) still parses, so that a daemon can tell it from garbage; it is dropped.
 *
 * @module
 */
import {
  ENVELOPE_HEADER_LEN,
  ENVELOPE_VERSION,
  PAD_BUCKETS,
  RATCHET_ENVELOPE_VERSION,
} from "./constants.ts";
import { ProtocolError } from "./errors.ts";

/** True when `bytes` is a MSG envelope of end-to-end version 2 (a ratchet message). */
export function isRatchetMessage(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === RATCHET_ENVELOPE_VERSION;
}

/** Kinds of version-1 envelopes (msg: schied/1's, only recognised). */
export const ENVELOPE_KINDS = { hs1: 1, hs2: 2, hs3: 3, msg: 4 } as const;

/** An envelope kind name. */
export type EnvelopeKind = keyof typeof ENVELOPE_KINDS;

const KIND_BY_NUM: (EnvelopeKind | undefined)[] = [undefined, "hs1", "hs2", "hs3", "msg"];

/** A parsed envelope. */
export interface Envelope {
  kind: EnvelopeKind;
  /** Handshake id (hs*) or a schied/1 session id (msg), 8 bytes. */
  id: Uint8Array;
  /** The rest. */
  body: Uint8Array;
  /** The header bytes (authenticated as associated data for msg). */
  header: Uint8Array;
}

function fail(msg: string): never {
  throw new ProtocolError("bad_frame", `Cannot parse envelope: ${msg}`);
}

/**
 * Encodes an envelope.
 *
 * @example
 * ```ts
 * encodeEnvelope("hs1", hid, noiseMessage);
 * ```
 */
export function encodeEnvelope(kind: EnvelopeKind, id: Uint8Array, body: Uint8Array): Uint8Array {
  if (id.length !== 8) throw new TypeError("An envelope id is 8 bytes");
  const out = new Uint8Array(ENVELOPE_HEADER_LEN + body.length);
  out[0] = ENVELOPE_VERSION;
  out[1] = ENVELOPE_KINDS[kind];
  out.set(id, 2);
  out.set(body, ENVELOPE_HEADER_LEN);
  return out;
}

/** Parses an envelope; each malformed field has its own error. */
export function parseEnvelope(bytes: Uint8Array): Envelope {
  if (bytes.length < ENVELOPE_HEADER_LEN) {
    fail(`length ${bytes.length} is shorter than the ${ENVELOPE_HEADER_LEN}-byte header`);
  }
  if (bytes[0] !== ENVELOPE_VERSION) fail(`version ${bytes[0]} is not ${ENVELOPE_VERSION}`);
  const kind = KIND_BY_NUM[bytes[1]!];
  if (!kind) fail(`kind ${bytes[1]} is unknown`);
  return {
    kind,
    id: bytes.slice(2, ENVELOPE_HEADER_LEN),
    body: bytes.subarray(ENVELOPE_HEADER_LEN),
    header: bytes.subarray(0, ENVELOPE_HEADER_LEN),
  };
}

/**
 * Pads `data` to the next size class: `length (u32) ‖ data ‖ zeros`. Padding hides exact
 * lengths from the relay; it sees only which class a message falls in.
 */
export function pad(data: Uint8Array): Uint8Array {
  const need = 4 + data.length;
  const size = PAD_BUCKETS.find((b) => b >= need);
  if (size === undefined) {
    throw new ProtocolError("too_large", `Payload of ${data.length} bytes is too large`);
  }
  const out = new Uint8Array(size);
  new DataView(out.buffer).setUint32(0, data.length);
  out.set(data, 4);
  return out;
}

/** Removes padding; throws if the length field does not fit. */
export function unpad(padded: Uint8Array): Uint8Array {
  if (padded.length < 4) fail("padded payload shorter than 4 bytes");
  const n = new DataView(padded.buffer, padded.byteOffset, padded.byteLength).getUint32(0);
  if (n > padded.length - 4) fail(`padded length ${n} exceeds ${padded.length - 4}`);
  return padded.subarray(4, 4 + n);
}
