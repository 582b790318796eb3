/**
 * Relay addresses: one string that names where the relay is and pins its static key,
 * `ws://HOST:PORT/#<base64url X25519 key>` (or `wss://`). A daemon needs nothing else.
 *
 * @module
 */
import { fromBase64Url, toBase64Url } from "./bytes.ts";
import { KEY_LEN } from "./constants.ts";
import { isCanonicalX25519 } from "./_crypto.ts";
import { toHex } from "./bytes.ts";

/**
 * The canonical X25519 points of small order (0, 1, p−1 and the two of order 8). A relay key
 * among them would make every shared secret predictable; refuse it when the address is read.
 */
const LOW_ORDER = new Set([
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
  "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
]);

/** A parsed relay address. */
export interface RelayAddress {
  /** The WebSocket URL to dial (no fragment). */
  url: string;
  /** The relay's pinned static X25519 public key. */
  key: Uint8Array;
}

/**
 * Formats a relay address.
 *
 * @example
 * ```ts
 * formatRelayAddress("ws://127.0.0.1:8765/", key); // "ws://127.0.0.1:8765/#q83v…"
 * ```
 */
export function formatRelayAddress(url: string, key: Uint8Array): string {
  return `${url}#${toBase64Url(key)}`;
}

/**
 * Parses a relay address; throws a TypeError that says what is wrong.
 *
 * @example
 * ```ts
 * parseRelayAddress("ws://127.0.0.1:8765/#q83v…").url; // "ws://127.0.0.1:8765/"
 * ```
 */
export function parseRelayAddress(text: string): RelayAddress {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new TypeError(`Cannot parse relay address "${text.slice(0, 100)}": not a URL`);
  }
  if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw new TypeError(`Cannot parse relay address: scheme ${u.protocol} is not ws: or wss:`);
  }
  const frag = u.hash.slice(1);
  if (frag === "") throw new TypeError("Cannot parse relay address: no #key fragment");
  let key: Uint8Array;
  try {
    key = fromBase64Url(frag);
  } catch {
    throw new TypeError("Cannot parse relay address: the key is not base64url");
  }
  if (key.length !== KEY_LEN || !isCanonicalX25519(key) || LOW_ORDER.has(toHex(key))) {
    throw new TypeError(`Cannot parse relay address: the key is not a ${KEY_LEN}-byte X25519 key`);
  }
  u.hash = "";
  return { url: u.toString(), key };
}
