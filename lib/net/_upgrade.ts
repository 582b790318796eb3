/**
 * The WebSocket opening handshake, server side (RFC 6455, section 4.2).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { HttpError } from "./http1.ts";

/** The GUID RFC 6455 appends to the client's key. */
const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const KEY_RE = /^[A-Za-z0-9+/]{22}==$/; // base64 of 16 bytes

function hasToken(value: string | null, token: string): boolean {
  return (value ?? "").toLowerCase().split(",").some((t) => t.trim() === token);
}

/**
 * Checks that `req` is a valid WebSocket upgrade and returns its Sec-WebSocket-Key; throws
 * HttpError 400 (malformed) or 426 (another WebSocket version).
 */
export function checkUpgrade(req: Request): string {
  const h = req.headers;
  if (req.method !== "GET") throw new HttpError(400, "A WebSocket upgrade is a GET");
  if (!hasToken(h.get("upgrade"), "websocket")) throw new HttpError(400, "No Upgrade: websocket");
  if (!hasToken(h.get("connection"), "upgrade")) throw new HttpError(400, "No Connection: upgrade");
  if (h.get("sec-websocket-version") !== "13") {
    throw new HttpError(426, "Only WebSocket version 13 is supported");
  }
  const key = h.get("sec-websocket-key") ?? "";
  if (!KEY_RE.test(key)) throw new HttpError(400, "Sec-WebSocket-Key is not 16 bytes of base64");
  return key;
}

/** The Sec-WebSocket-Accept value for a client's key. */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + WS_GUID).digest("base64");
}
