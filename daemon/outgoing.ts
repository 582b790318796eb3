/**
 * Checks on an outgoing message before it is accepted, and the lookup of a new peer's key in the
 * relay's registry.
 *
 * @module
 */
import { parseRelayAddress } from "../protocol/address.ts";
import { fromBase64Url, utf8 } from "../protocol/bytes.ts";
import { MAX_TEXT_BYTES, PAD_BUCKETS } from "../protocol/constants.ts";
import { idMatchesKey, parseId } from "../protocol/identity.ts";
import { encodePayload } from "../protocol/payload.ts";
import { ServiceError } from "./service.ts";

/** Idempotency keys: 1 to 128 printable ASCII characters (they travel in a query string too). */
export const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,128}$/;

/** True when a message with this text, JSON-encoded and padded, fits the largest envelope. */
function fitsOneEnvelope(text: string): boolean {
  const worst = encodePayload({
    t: "m",
    id: "00000000-0000-0000-0000-000000000000",
    seq: Number.MAX_SAFE_INTEGER,
    ts: Number.MAX_SAFE_INTEGER,
    text,
    floor: Number.MAX_SAFE_INTEGER,
  });
  return 4 + worst.length <= PAD_BUCKETS[PAD_BUCKETS.length - 1]!;
}

/**
 * Refuses a text that is empty or only white space, or too long (in UTF-8 bytes, or once
 * JSON-escaped), and a malformed idempotency key, with the service's error codes. The one place
 * these rules are checked: the API passes any string through.
 *
 * @example
 * ```ts
 * checkOutgoing("hi", undefined); // ok
 * ```
 */
export function checkOutgoing(text: unknown, key: string | undefined): void {
  if (typeof text !== "string" || text.trim() === "") {
    throw new ServiceError("text_empty", "The message text is empty");
  }
  const bytes = utf8.encode(text).length;
  if (bytes > MAX_TEXT_BYTES) {
    throw new ServiceError(
      "text_too_long",
      `The text is ${bytes} bytes; the limit is ${MAX_TEXT_BYTES}`,
    );
  }
  if (!fitsOneEnvelope(text)) {
    throw new ServiceError(
      "text_too_long",
      "The text does not fit one message once encoded (many quotes or control characters?)",
    );
  }
  if (key !== undefined && !IDEMPOTENCY_KEY_RE.test(key)) {
    throw new ServiceError(
      "bad_request",
      "id (idempotency key) must be 1-128 printable ASCII characters",
    );
  }
}

/**
 * Asks the relay's registry (`GET /v1/keys/{id}`) for a peer's identity key. Resolves with the
 * key, or undefined when the relay cannot be asked (the message is queued anyway); throws
 * recipient_unknown for an id the relay does not know, and key_mismatch for a key that does not
 * hash to the id (the relay is not trusted).
 */
export async function lookupPeerKey(
  relayAddress: string,
  peer: string,
): Promise<Uint8Array | undefined> {
  const u = new URL(parseRelayAddress(relayAddress).url);
  u.protocol = u.protocol === "wss:" ? "https:" : "http:";
  u.pathname = `/v1/keys/${peer}`;
  let res: Response;
  try {
    res = await fetch(u, { signal: AbortSignal.timeout(5000) });
  } catch {
    return undefined;
  }
  if (res.status === 404) {
    await res.body?.cancel();
    throw new ServiceError(
      "recipient_unknown",
      `No identity is registered at the relay for ${peer}`,
    );
  }
  if (!res.ok) {
    await res.body?.cancel();
    return undefined;
  }
  const body = await res.json().catch(() => ({}));
  let key: Uint8Array;
  try {
    key = fromBase64Url(String(body.public_key));
  } catch {
    return undefined;
  }
  if (!idMatchesKey(parseId(peer), key)) {
    throw new ServiceError("key_mismatch", `The relay returned a key that does not match ${peer}`);
  }
  return key;
}
