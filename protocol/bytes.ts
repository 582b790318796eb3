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
const B64URL_CANONICAL = { alphabet: "base64url", lastChunkHandling: "strict" } as const;

/**
 * Encodes bytes as unpadded base64url.
 *
 * @example
 * ```ts
 * toBase64Url(new Uint8Array([255])); // "_w"
 * ```
 */
export function toBase64Url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/**
 * Decodes unpadded base64url, canonical only: throws on any other alphabet, padding, white
 * space, a bad length, or stray low bits in the last character (so one value has one text).
 *
 * @example
 * ```ts
 * fromBase64Url("_w"); // Uint8Array [255]
 * ```
 */
export function fromBase64Url(text: string): Uint8Array {
  // The built-in decoder skips white space and takes padding: both are refused here first.
  if (!B64URL.test(text) || text.length % 4 === 1) {
    throw new TypeError(`Cannot decode base64url: invalid text of length ${text.length}`);
  }
  try {
    // "strict" refuses non-zero unused bits, but wants the last chunk padded: pad it.
    return Uint8Array.fromBase64(
      text + "==".slice(0, (4 - (text.length % 4)) % 4),
      B64URL_CANONICAL,
    );
  } catch {
    throw new TypeError("Cannot decode base64url: non-canonical encoding");
  }
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
  return bytes.toHex();
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
  try {
    return Uint8Array.fromHex(text);
  } catch {
    throw new TypeError(`Cannot decode hex: invalid text of length ${text.length}`);
  }
}

/** UTF-8 encoder shared by the protocol modules. */
export const utf8 = new TextEncoder();

/** Strict UTF-8 decoder: malformed text is an error, never replaced silently. */
export const utf8Strict = new TextDecoder("utf-8", { fatal: true });
