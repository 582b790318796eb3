/**
 * What cluster nodes say to each other through Redis pub/sub (README "Running several relays";
 * protocol/README.md section 9.5). Each node's inbox channel carries binary messages; the
 * presence channel carries short text lines. Parsing is strict: anything else is dropped.
 *
 * ```
 * inbox    DELIVER = 0x01 ‖ to (16) ‖ from (16) ‖ envelope
 *          KICK    = 0x02 ‖ id (16) ‖ session (ASCII)       the session lost its id to another
 *          PING    = 0x03 ‖ nonce (ASCII)                    a node's check of its own inbox
 * presence "1 <id hex> <node> <session>" online, "0 …" offline
 * ```
 *
 * @module
 */
import { fromHex, toHex } from "../../protocol/bytes.ts";
import { ID_LEN } from "../../protocol/constants.ts";

/** One inbox message. */
export type InboxMessage =
  | { t: "deliver"; to: Uint8Array; from: Uint8Array; envelope: Uint8Array }
  | { t: "kick"; id: Uint8Array; session: string }
  | { t: "ping"; nonce: string };

const DELIVER = 1, KICK = 2, PING = 3;
const ascii = new TextEncoder(), text = new TextDecoder();
/** Node names and session tokens: short, printable, no separator. */
export const TOKEN_RE = /^[0-9a-z_-]{1,64}$/;

/** Encodes an inbox message. */
export function encodeInbox(m: InboxMessage): Uint8Array {
  switch (m.t) {
    case "deliver": {
      const out = new Uint8Array(1 + 2 * ID_LEN + m.envelope.length);
      out[0] = DELIVER;
      out.set(m.to, 1);
      out.set(m.from, 1 + ID_LEN);
      out.set(m.envelope, 1 + 2 * ID_LEN);
      return out;
    }
    case "kick": {
      const s = ascii.encode(m.session);
      const out = new Uint8Array(1 + ID_LEN + s.length);
      out[0] = KICK;
      out.set(m.id, 1);
      out.set(s, 1 + ID_LEN);
      return out;
    }
    case "ping":
      return Uint8Array.of(PING, ...ascii.encode(m.nonce));
  }
}

/** Parses an inbox message; null when malformed. */
export function parseInbox(b: Uint8Array): InboxMessage | null {
  if (b.length < 2) return null;
  if (b[0] === DELIVER && b.length > 1 + 2 * ID_LEN) {
    return {
      t: "deliver",
      to: b.slice(1, 1 + ID_LEN),
      from: b.slice(1 + ID_LEN, 1 + 2 * ID_LEN),
      envelope: b.slice(1 + 2 * ID_LEN),
    };
  }
  if (b[0] === KICK && b.length > 1 + ID_LEN) {
    const session = text.decode(b.subarray(1 + ID_LEN));
    return TOKEN_RE.test(session) ? { t: "kick", id: b.slice(1, 1 + ID_LEN), session } : null;
  }
  if (b[0] === PING) {
    const nonce = text.decode(b.subarray(1));
    return TOKEN_RE.test(nonce) ? { t: "ping", nonce } : null;
  }
  return null;
}

/** A presence change. */
export interface PresenceEvent {
  online: boolean;
  id: Uint8Array;
  node: string;
  session: string;
}

/** Encodes a presence change. */
export function encodePresence(e: PresenceEvent): string {
  return `${e.online ? 1 : 0} ${toHex(e.id)} ${e.node} ${e.session}`;
}

/** Parses a presence change; null when malformed. */
export function parsePresence(s: string): PresenceEvent | null {
  const f = s.split(" ");
  if (f.length !== 4 || (f[0] !== "0" && f[0] !== "1") || !/^[0-9a-f]{32}$/.test(f[1]!)) {
    return null;
  }
  if (!TOKEN_RE.test(f[2]!) || !TOKEN_RE.test(f[3]!)) return null;
  return { online: f[0] === "1", id: fromHex(f[1]!), node: f[2]!, session: f[3]! };
}

/** The value of a presence key: "node session". */
export function ownerValue(node: string, session: string): string {
  return `${node} ${session}`;
}

/** Parses a presence key's value; null when malformed. */
export function parseOwner(v: string | null): { node: string; session: string } | null {
  if (!v) return null;
  const [node, session, extra] = v.split(" ");
  if (extra !== undefined || !TOKEN_RE.test(node ?? "") || !TOKEN_RE.test(session ?? "")) {
    return null;
  }
  return { node: node!, session: session! };
}
