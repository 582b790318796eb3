/**
 * Identities and self-certifying client ids.
 *
 * An identity is an Ed25519 key pair. Its client_id is an RFC 9562 version-8 UUID whose 122 free
 * bits are the leading 122 bits of SHA-256(ID_LABEL ‖ public key). Anyone holding the key can check
 * the id, so no one — the relay included — can bind another key to it.
 *
 * @module
 */
import { concat, utf8 } from "./bytes.ts";
import { ID_LABEL, ID_LEN, KEY_LEN } from "./constants.ts";
import { sha256 } from "./_crypto.ts";
import { ProtocolError } from "./errors.ts";

const LABEL = utf8.encode(ID_LABEL);
const MASK62 = (1n << 62n) - 1n;

/**
 * The 16-byte client_id of an identity public key.
 *
 * @example
 * ```ts
 * formatId(clientIdFromPublicKey(publicKey)); // "3f0c…-…-8…-…"
 * ```
 */
export function clientIdFromPublicKey(publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== KEY_LEN) {
    throw new ProtocolError("bad_frame", `Identity key must be ${KEY_LEN} bytes`);
  }
  const h = sha256(concat(LABEL, publicKey));
  let v = 0n;
  for (let i = 0; i < 16; i++) v = (v << 8n) | BigInt(h[i]!);
  const free = v >> 6n; // the leading 122 bits
  const a = free >> 74n; // 48 bits: time_high etc. in UUID terms
  const b = (free >> 62n) & 0xfffn; // 12 bits after the version nibble
  const c = free & MASK62; // 62 bits after the variant
  let uuid = (a << 80n) | (8n << 76n) | (b << 64n) | (2n << 62n) | c;
  const out = new Uint8Array(ID_LEN);
  for (let i = ID_LEN - 1; i >= 0; i--) {
    out[i] = Number(uuid & 0xffn);
    uuid >>= 8n;
  }
  return out;
}

/** True when `id` is the client_id of `publicKey` (the check every client repeats). */
export function idMatchesKey(id: Uint8Array, publicKey: Uint8Array): boolean {
  if (id.length !== ID_LEN || publicKey.length !== KEY_LEN) return false;
  const want = clientIdFromPublicKey(publicKey);
  let d = 0;
  for (let i = 0; i < ID_LEN; i++) d |= want[i]! ^ id[i]!;
  return d === 0;
}

/**
 * Formats an id as a lowercase UUID string.
 *
 * @example
 * ```ts
 * formatId(new Uint8Array(16)); // "00000000-0000-0000-0000-000000000000"
 * ```
 */
export function formatId(id: Uint8Array): string {
  if (id.length !== ID_LEN) throw new TypeError(`An id is ${ID_LEN} bytes, got ${id.length}`);
  let h = "";
  for (const b of id) h += b.toString(16).padStart(2, "0");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const ANY_UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-([0-9a-f])[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Says why `text` is not a client id, and what an id is.
 *
 * @example
 * ```ts
 * idProblem("0b3e51c2-6f1d-4a4e-9c1b-2d3e4f5a6b7c"); // "… it is a version-4 UUID"
 * ```
 */
export function idProblem(text: string): string {
  const v = ANY_UUID_RE.exec(text)?.[1];
  const what = v === undefined
    ? "it is not a UUID"
    : v === "8"
    ? "its variant bits are not RFC 9562's"
    : `it is a version-${parseInt(v, 16)} UUID`;
  return `Cannot parse id "${text.slice(0, 64)}": a schied id is a version-8 UUID derived ` +
    `from its owner's key, and ${what}`;
}

/**
 * Parses a client_id (version-8 UUID, either case). Throws a specific error otherwise.
 *
 * @example
 * ```ts
 * parseId("0b3e51c2-6f1d-8a4e-9c1b-2d3e4f5a6b7c").length; // 16
 * ```
 */
export function parseId(text: string): Uint8Array {
  const t = text.toLowerCase();
  if (!UUID_RE.test(t)) throw new TypeError(idProblem(text));
  const hex = t.replaceAll("-", "");
  const out = new Uint8Array(ID_LEN);
  for (let i = 0; i < ID_LEN; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** True when `text` is a well-formed client_id. */
export function isIdText(text: string): boolean {
  return UUID_RE.test(text.toLowerCase());
}

const SAFETY_LABEL = utf8.encode("schied/1/safety-number");
const FINGERPRINT_LABEL = utf8.encode("schied/1/fingerprint");

/**
 * The safety number of a pair: two identity keys (order-independent), to compare out of band —
 * both sides compute the same 40 digits in 8 groups. There is one per pair, never one per key.
 *
 * @example
 * ```ts
 * safetyNumber(myKey, theirKey) === safetyNumber(theirKey, myKey); // "12345 67890 …"
 * ```
 */
export function safetyNumber(a: Uint8Array, b: Uint8Array): string {
  const h = sha256(concat(SAFETY_LABEL, ...[a, b].sort(compareBytes)));
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) {
    const v = ((h[i * 3]! << 16) | (h[i * 3 + 1]! << 8) | h[i * 3 + 2]!) % 100000;
    groups.push(String(v).padStart(5, "0"));
  }
  return groups.join(" ");
}

/**
 * The fingerprint of one identity key: 128 bits of SHA-256 under a label of its own, as 8
 * groups of 4 hex digits. Why hex and not digits: it must not look like a safety number, which
 * is what two people compare (a fingerprint never matches anything the other side shows).
 *
 * @example
 * ```ts
 * fingerprint(myKey); // "3f2a 9c01 …"
 * ```
 */
export function fingerprint(key: Uint8Array): string {
  const h = sha256(concat(FINGERPRINT_LABEL, key));
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) {
    groups.push(
      Array.from(h.subarray(i * 2, i * 2 + 2), (x) => x.toString(16).padStart(2, "0")).join(""),
    );
  }
  return groups.join(" ");
}

function compareBytes(x: Uint8Array, y: Uint8Array): number {
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}
