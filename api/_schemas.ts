/**
 * JSON Schemas (OpenAPI 3.1 components) of the API's bodies, kept next to the interface they
 * describe (daemon/service.ts), and the field limits the routes enforce.
 *
 * @module
 */
import { ERRORS } from "./errors.ts";

/** Longest `to` (a client id or contact name) accepted. */
export const MAX_TO_LEN = 256;

/** Longest contact name. */
export const MAX_NAME_LEN = 64;

/** Idempotency keys: 1 to 128 printable ASCII characters. */
export const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,128}$/;

type Json = Record<string, unknown>;

const str = { type: "string" };
const int = { type: "integer" };
const nullable = (type: string): Json => ({ type: [type, "null"] });
const obj = (properties: Record<string, Json>, required = Object.keys(properties)): Json => ({
  type: "object",
  properties,
  required,
});

const STATUS = { type: "string", enum: ["queued", "sent", "delivered", "failed"] };

/** The component schemas of the OpenAPI document. */
export const SCHEMAS: Record<string, Json> = {
  Error: obj({
    error: obj({
      code: { type: "string", enum: ERRORS.map((e) => e.code) },
      message: str,
      http: int,
    }),
  }),
  Health: obj({ ok: { const: true } }),
  SendRequest: obj({
    to: { type: "string", maxLength: MAX_TO_LEN, description: "A client id or a contact name" },
    text: str,
    id: { type: "string", pattern: IDEMPOTENCY_KEY_RE.source, description: "Idempotency key" },
  }, ["to", "text"]),
  SendResult: obj({ id: str, status: STATUS }),
  MessageRecord: obj({
    id: str,
    direction: { type: "string", enum: ["in", "out"] },
    peer: str,
    peer_name: nullable("string"),
    text: str,
    ts: int,
    seq: int,
    status: STATUS,
    event_id: { type: "integer", description: "Journal position: pass as `since` to page" },
    reason: str,
  }, ["id", "direction", "peer", "peer_name", "text", "ts", "seq", "status", "event_id"]),
  MessageList: obj({
    messages: { type: "array", items: { $ref: "#/components/schemas/MessageRecord" } },
  }),
  Contact: obj({
    id: str,
    name: nullable("string"),
    identity_key: nullable("string"),
    verified: { type: "boolean" },
    online: nullable("boolean"),
    safety_number: nullable("string"),
  }),
  ContactList: obj({
    contacts: { type: "array", items: { $ref: "#/components/schemas/Contact" } },
  }),
  ContactRequest: obj({
    id: { type: "string", format: "uuid", description: "The contact's client id" },
    name: { type: "string", maxLength: MAX_NAME_LEN, description: "A unique local name" },
  }, ["id"]),
  VerifyRequest: obj({ verified: { type: "boolean", default: true } }, []),
  MessageRequest: obj({
    id: str,
    identity_key: nullable("string"),
    safety_number: nullable("string"),
    received_at: { type: "integer", description: "When it first wrote (ms since epoch)" },
    messages: { type: "integer", description: "Messages kept from it" },
    last_text: nullable("string"),
  }),
  RequestList: obj({
    requests: { type: "array", items: { $ref: "#/components/schemas/MessageRequest" } },
  }),
  AcceptRequest: obj({
    name: { type: "string", maxLength: MAX_NAME_LEN, description: "A unique local name" },
  }, []),
  Blocked: obj({ id: str }),
  BlockedList: obj({ blocked: { type: "array", items: str } }),
  Me: obj({
    id: str,
    identity_key: str,
    safety_number: str,
    relay: nullable("string"),
    retired: { type: "array", items: obj({ id: str, identity_key: str }) },
  }),
  DaemonStatus: obj({
    version: str,
    id: str,
    relay: obj({
      address: nullable("string"),
      state: { type: "string", enum: ["connecting", "online", "offline"] },
    }),
    outbox: obj({ size: int, oldest: nullable("integer") }),
    sessions: int,
    contacts: int,
    uptime_ms: int,
    last_event_id: int,
  }),
  StreamedEvent: obj({
    id: int,
    event: {
      type: "string",
      enum: ["message", "request", "status", "presence", "relay", "error"],
    },
    data: { type: "object" },
  }),
};
