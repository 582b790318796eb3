/**
 * The OpenAPI 3.1 description of the local API, served at `GET /openapi.json`. A test checks
 * that it lists exactly the routes the app has.
 *
 * @module
 */
import { type ApiErrorCode, ERRORS, statusOf } from "./errors.ts";
import { SEND_BODY_LIMIT } from "./guard.ts";
import { SCHEMAS } from "./_schemas.ts";

/** A JSON object. */
export type Json = Record<string, unknown>;

/** The OpenAPI document: its paths, by path and lowercase method. */
export type OpenApiDocument = { paths: Record<string, Record<string, Json>> } & Json;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json): Json => ({ "application/json": { schema } });

/** Error answers of the given codes, grouped by status (codes listed in each description). */
function errors(...codes: ApiErrorCode[]): Record<string, Json> {
  const all: ApiErrorCode[] = ["unauthorized", "forbidden_origin", "misdirected_host", "internal"];
  const byStatus = new Map<number, ApiErrorCode[]>();
  for (const code of [...codes, ...all]) {
    const list = byStatus.get(statusOf(code)) ?? [];
    if (!list.includes(code)) list.push(code);
    byStatus.set(statusOf(code), list);
  }
  const out: Record<string, Json> = {};
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    out[String(status)] = { description: `Error: ${list.join(", ")}`, content: json(ref("Error")) };
  }
  return out;
}

const ok = (status: number, description: string, schema?: Json): Record<string, Json> => ({
  [String(status)]: schema ? { description, content: json(schema) } : { description },
});

const query = (name: string, description: string, schema: Json): Json => ({
  name,
  in: "query",
  required: false,
  description,
  schema,
});

const path = (name: string, description: string): Json => ({
  name,
  in: "path",
  required: true,
  description,
  schema: { type: "string" },
});

const body = (schema: Json, required = true): Json => ({ required, content: json(schema) });
const BODY_ERRORS: ApiErrorCode[] = ["invalid_json", "body_too_large", "unsupported_media_type"];
const CONTACT = path("idOrName", "A contact's client id or name");
const REQUESTER = path("id", "The requester's client id");

const PATHS: Record<string, Record<string, Json>> = {
  "/health": {
    get: {
      summary: "Liveness; the only route without a token",
      security: [],
      responses: { ...ok(200, "Alive", ref("Health")), ...errors("misdirected_host") },
    },
  },
  "/openapi.json": {
    get: {
      summary: "This document",
      responses: { ...ok(200, "The OpenAPI document", { type: "object" }), ...errors() },
    },
  },
  "/send": {
    post: {
      summary: "Sends a message (durable once answered; delivery is reported on /events)",
      description: "JSON `{to, text, id?}`; or the raw body as the text (text/plain, or " +
        "application/x-www-form-urlencoded as `curl -d` sends, NOT form-decoded; one trailing " +
        `newline is dropped) with \`?to=\` and \`?id=\`. Body limit ${SEND_BODY_LIMIT} bytes.`,
      parameters: [
        query("to", "Recipient (id or contact name), for a raw-text body", { type: "string" }),
        query("id", "Idempotency key, for a raw-text body", { type: "string" }),
      ],
      requestBody: {
        required: true,
        content: {
          ...json(ref("SendRequest")),
          "text/plain": { schema: { type: "string" } },
          "application/x-www-form-urlencoded": { schema: { type: "string" } },
        },
      },
      responses: {
        ...ok(202, "Accepted", ref("SendResult")),
        ...errors(
          "bad_request",
          "text_empty",
          "text_too_long",
          "recipient_unknown",
          "recipient_ambiguous",
          "idempotency_conflict",
          "key_mismatch",
          ...BODY_ERRORS,
        ),
      },
    },
  },
  "/events": {
    get: {
      summary: "The journal as Server-Sent Events or NDJSON, live or resumed",
      parameters: [
        query("since", "Resume after this event id", { type: "integer", minimum: 0 }),
        query("format", "sse (default) or jsonl", { type: "string", enum: ["sse", "jsonl"] }),
        {
          name: "Last-Event-ID",
          in: "header",
          required: false,
          description: "Resume after this event id (wins over ?since=)",
          schema: { type: "integer", minimum: 0 },
        },
      ],
      responses: {
        "200": {
          description: "A stream: `id:`/`event:`/`data:` SSE messages (`: keepalive` comments); " +
            "or one JSON object per line (blank lines are keepalives)",
          content: {
            "text/event-stream": { schema: { type: "string" } },
            "application/x-ndjson": { schema: ref("StreamedEvent") },
          },
        },
        ...errors("bad_request"),
      },
    },
  },
  "/messages": {
    get: {
      summary: "Messages, oldest first",
      parameters: [
        query("with", "Only with this peer (id or contact name)", { type: "string" }),
        query("since", "After this journal position", { type: "integer", minimum: 0 }),
        query("limit", "At most this many", {
          type: "integer",
          minimum: 1,
          maximum: 1000,
          default: 100,
        }),
      ],
      responses: {
        ...ok(200, "Messages", ref("MessageList")),
        ...errors("bad_request", "recipient_unknown", "recipient_ambiguous"),
      },
    },
  },
  "/messages/{id}": {
    get: {
      summary: "One message",
      parameters: [path("id", "The message id")],
      responses: { ...ok(200, "The message", ref("MessageRecord")), ...errors("not_found") },
    },
  },
  "/status": {
    get: {
      summary: "Daemon status",
      responses: { ...ok(200, "Status", ref("DaemonStatus")), ...errors() },
    },
  },
  "/me": {
    get: { summary: "This identity", responses: { ...ok(200, "Me", ref("Me")), ...errors() } },
  },
  "/me/rotate": {
    post: {
      summary: "Makes a new identity; the old one is kept as retired",
      responses: {
        ...ok(200, "The new identity", ref("Me")),
        ...errors("relay_offline", "body_too_large"),
      },
    },
  },
  "/me/retired/{id}": {
    delete: {
      summary: "Deletes a retired identity for good",
      parameters: [path("id", "The retired identity's client id")],
      responses: {
        ...ok(200, "This identity", ref("Me")),
        ...errors("not_found", "body_too_large"),
      },
    },
  },
  "/contacts": {
    get: {
      summary: "Contacts",
      responses: { ...ok(200, "Contacts", ref("ContactList")), ...errors() },
    },
    post: {
      summary: "Adds a contact",
      requestBody: body(ref("ContactRequest")),
      responses: {
        ...ok(201, "The contact", ref("Contact")),
        ...errors("bad_request", "contact_exists", "name_taken", "relay_offline", ...BODY_ERRORS),
      },
    },
  },
  "/contacts/{idOrName}": {
    delete: {
      summary: "Removes a contact",
      parameters: [CONTACT],
      responses: {
        ...ok(204, "Removed"),
        ...errors("not_found", "recipient_ambiguous", "body_too_large"),
      },
    },
  },
  "/contacts/{idOrName}/block": {
    post: {
      summary: "Blocks an id (a contact, a requester or a stranger): its envelopes are dropped " +
        "unread; a requester's or stranger's messages are forgotten, a contact's history kept",
      parameters: [CONTACT],
      responses: {
        ...ok(200, "Blocked", ref("Blocked")),
        ...errors("bad_request", "recipient_unknown", "body_too_large"),
      },
    },
  },
  "/blocked": {
    get: {
      summary: "Blocked ids",
      responses: { ...ok(200, "Blocked ids", ref("BlockedList")), ...errors() },
    },
  },
  "/blocked/{id}": {
    delete: {
      summary: "Unblocks an id (it is a stranger again)",
      parameters: [path("id", "The blocked client id")],
      responses: {
        ...ok(204, "Unblocked"),
        ...errors("bad_request", "not_found", "body_too_large"),
      },
    },
  },
  "/requests": {
    get: {
      summary: "Message requests: ids that wrote first and are not contacts, oldest first",
      responses: { ...ok(200, "Requests", ref("RequestList")), ...errors() },
    },
  },
  "/requests/{id}": {
    delete: {
      summary: "Declines a request: it and its messages are forgotten",
      parameters: [REQUESTER],
      responses: {
        ...ok(204, "Declined"),
        ...errors("bad_request", "not_found", "body_too_large"),
      },
    },
  },
  "/requests/{id}/accept": {
    post: {
      summary: "Accepts a request: the id becomes a contact (optionally named)",
      parameters: [REQUESTER],
      requestBody: body(ref("AcceptRequest"), false),
      responses: {
        ...ok(200, "The new contact", ref("Contact")),
        ...errors("bad_request", "not_found", "name_taken", ...BODY_ERRORS),
      },
    },
  },
  "/contacts/{idOrName}/verify": {
    post: {
      summary: "Marks a contact verified (or not) after comparing safety numbers",
      parameters: [CONTACT],
      requestBody: body(ref("VerifyRequest"), false),
      responses: {
        ...ok(200, "The contact", ref("Contact")),
        ...errors("bad_request", "not_found", "recipient_ambiguous", ...BODY_ERRORS),
      },
    },
  },
};

/**
 * Builds the OpenAPI 3.1 document of the API.
 *
 * @example
 * ```ts
 * Object.keys(openApiDocument().paths); // ["/health", "/openapi.json", "/send", …]
 * ```
 */
export function openApiDocument(): OpenApiDocument {
  return {
    openapi: "3.1.0",
    info: {
      title: "schied local API",
      version: "1",
      description: "The daemon's loopback API. Every route but GET /health needs " +
        "`Authorization: Bearer <token>` (the `api-token` file; `curl -H @api-auth-header`). " +
        "Browsers are refused (Origin/Referer), and Host must be localhost. Error codes: " +
        ERRORS.map((e) => `${e.code} (${e.http})`).join(", ") + ".",
    },
    servers: [{ url: "http://127.0.0.1:7777" }],
    security: [{ bearer: [] }],
    paths: PATHS,
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: SCHEMAS,
    },
  };
}
