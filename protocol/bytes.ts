/**
 * Byte helpers: base64url, hex, concatenation, constant-time comparison, big-endian integers.
 *
 * @module
 */

/**
 * Concatenates byte arrays into one new array.
 *
 * @example
 * ```ts
 * concat(new Uint8Array([1]), new Uint8Array([2, 3])); // Uint8Array [1, 2, 3]
 * ```
 */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Compares two byte arrays in time that depends only on their lengths.
 *
 * @example
 * ```ts
 * constantTimeEqual(new Uint8Array([1]), new Uint8Array([1])); // true
 * ```
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Encodes bytes as unpadded base64url.
 *
 * @example
 * ```ts
 * toBase64Url(new Uint8Array([255])); // "_w"
 * ```
 */
export function toBase64Url(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * Decodes unpadded base64url; throws on any other alphabet or a bad length.
 *
 * @example
 * ```ts
 * fromBase64Url("_w"); // Uint8Array [255]
 * ```
 */
export function fromBase64Url(text: string): Uint8Array {
  if (!B64URL.test(text) || text.length % 4 === 1) {
    throw new TypeError(`Cannot decode base64url: invalid text of length ${text.length}`);
  }
  const b64 = text.replaceAll("-", "+").replaceAll("_", "/") +
    "=".repeat((4 - (text.length % 4)) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  // Reject non-canonical encodings (stray low bits), so that one value has one text.
  if (toBase64Url(out) !== text) {
    throw new TypeError("Cannot decode base64url: non-canonical encoding");
  }
  return out;
}

/**
 * Encodes bytes as lowercase hex.
 *
 * @example
 * ```ts
 * toHex(new Uint8Array([1, 171])); // "01ab"
 * ```
 */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/**
 * Decodes hex (either case); throws on odd length or a non-hex digit.
 *
 * @example
 * ```ts
 * fromHex("01ab"); // Uint8Array [1, 171]
 * ```
 */
export function fromHex(text: string): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new TypeError(`Cannot decode hex: invalid text of length ${text.length}`);
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** UTF-8 encoder shared by the protocol modules. */
export const utf8 = new TextEncoder();

/** Strict UTF-8 decoder: malformed text is an error, never replaced silently. */
export const utf8Strict = new TextDecoder("utf-8", { fatal: true });
