/**
 * Every route of the local API, described once: method, path, parameters, body and answers, with
 * the schemas of api/schemas.ts. The app mounts these (app.ts), the OpenAPI document is generated
 * from them (openapi.ts), and the client's types are read off them (client.ts).
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { type ApiErrorCode, ERRORS, statusOf } from "./errors.ts";
import { SEND_BODY_LIMIT } from "./guard.ts";
import * as S from "./schemas.ts";

/** The body of every error answer. */
export const ErrorBody = z.object({
  error: z.object({
    code: z.enum(ERRORS.map((e) => e.code) as [ApiErrorCode, ...ApiErrorCode[]]),
    message: z.string().openapi({ description: "For humans; may change" }),
    http: z.number().int(),
  }),
}).openapi("Error");

/** A JSON body or answer of `schema`. */
export const json = <T extends z.ZodType>(schema: T) => ({ "application/json": { schema } });
/** A JSON answer. */
export const ok = <T extends z.ZodType>(description: string, schema: T) => ({
  description,
  content: json(schema),
});

/** Error answers of `codes` and the guard's, grouped by status (the codes in the description). */
export function errors(...codes: ApiErrorCode[]) {
  const all: ApiErrorCode[] = ["unauthorized", "forbidden_origin", "misdirected_host", "internal"];
  const byStatus = new Map<number, ApiErrorCode[]>();
  for (const code of [...codes, ...all]) {
    const list = byStatus.get(statusOf(code)) ?? [];
    if (!list.includes(code)) list.push(code);
    byStatus.set(statusOf(code), list);
  }
  const out: Record<number, { description: string; content: ReturnType<typeof json> }> = {};
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    out[status] = { description: `Error: ${list.join(", ")}`, content: json(ErrorBody) };
  }
  return out;
}

const BODY: ApiErrorCode[] = ["bad_request", "invalid_json", "body_too_large"];
/** The errors of a route with a JSON body. */
export const JSON_BODY: ApiErrorCode[] = [...BODY, "unsupported_media_type"];

/**
 * A decimal integer parameter in `[min, max]` (no sign, exponent or fraction). A header's value
 * is trimmed first, and a blank one is as if absent.
 */
export function intParam(name: string, min: number, max?: number, header = false) {
  const range = max === undefined ? `from ${min}` : `from ${min} to ${max}`;
  const message = `${name} must be an integer ${range}`;
  return z.string().transform((raw, ctx) => {
    const s = header ? raw.trim() : raw;
    if (header && s === "") return undefined;
    const n = /^[0-9]{1,16}$/.test(s) ? Number(s) : NaN;
    if (Number.isSafeInteger(n) && n >= min && (max === undefined || n <= max)) return n;
    ctx.addIssue({ code: "custom", message });
    return z.NEVER;
  }).openapi({ type: "integer", minimum: min, ...(max === undefined ? {} : { maximum: max }) });
}

const params = <K extends string>(name: K, description: string) =>
  z.object({ [name]: z.string().openapi({ description }) } as Record<K, z.ZodString>);
const contact = params("idOrName", "A contact's client id or name");
const requester = params("id", "The requester's client id");
const to = S.SendRequest.shape.to;

/** The routes, by name. */
export const routes = {
  health: createRoute({
    method: "get",
    path: "/health",
    summary: "Liveness; the only route without a token",
    security: [],
    responses: { 200: ok("Alive", z.object({ ok: z.literal(true) })), ...errors() },
  }),
  openapi: createRoute({
    method: "get",
    path: "/openapi.json",
    summary: "This document",
    responses: {
      200: ok("The OpenAPI 3.1 document", z.record(z.string(), z.unknown())),
      ...errors(),
    },
  }),
  send: createRoute({
    method: "post",
    path: "/send",
    summary: "Sends a message (durable once answered; delivery is reported on /events)",
    description: "JSON `{to, text, id?}`; or the raw body as the text (text/plain, no type, or " +
      "application/x-www-form-urlencoded as `curl -d` sends, NOT form-decoded; one trailing " +
      `newline is dropped) with \`?to=\` and \`?id=\`. Body limit ${SEND_BODY_LIMIT} bytes. ` +
      "To a peer that is online with 1,024 messages waiting to be sent, the answer waits up to " +
      "1 s for room, then is `busy` (Retry-After 1).",
    request: {
      query: z.object({
        to: to.optional().openapi({ description: "Recipient, for a raw-text body" }),
        id: z.string().optional().openapi({ description: "Idempotency key, for a raw-text body" }),
      }),
      // And a raw-text body (text/plain, the form type, none): mounted with `rawText`.
      body: { required: true, content: json(S.SendRequest) },
    },
    responses: {
      202: ok("Accepted", S.SendResult),
      ...errors(
        ...JSON_BODY,
        "text_empty",
        "text_too_long",
        "recipient_unknown",
        "idempotency_conflict",
        "key_mismatch",
        "busy",
      ),
    },
  }),
  events: createRoute({
    method: "get",
    path: "/events",
    summary: "The journal as Server-Sent Events or NDJSON, live or resumed",
    description: "SSE: per event `id:` (monotonic), `event:` (the type) and one-line JSON " +
      "`data:` (the StreamedEvent's `data` for that type); a `retry:` line first, " +
      "`: keepalive` comments. NDJSON: one StreamedEvent per line, blank lines as keepalives.",
    request: {
      query: z.object({
        since: intParam("since", 0).optional().openapi({ description: "Resume after this id" }),
        since_ts: intParam("since_ts", 0).optional().openapi({
          description: "Start with the first event at or after this time (ms since epoch); " +
            "`since` and Last-Event-ID win over it",
        }),
        format: z.enum(["sse", "jsonl"]).default("sse"),
      }),
      headers: z.object({
        "Last-Event-ID": intParam("Last-Event-ID", 0, undefined, true).optional().openapi({
          description: "Resume after this event id (wins over ?since=)",
        }),
      }),
    },
    responses: {
      200: {
        description: "The stream",
        content: {
          "text/event-stream": { schema: S.StreamedEvent },
          "application/x-ndjson": { schema: S.StreamedEvent },
        },
      },
      ...errors("bad_request"),
    },
  }),
  messages: createRoute({
    method: "get",
    path: "/messages",
    summary: "Messages, oldest first (or newest first with order=desc)",
    request: {
      query: z.object({
        with: to.optional().openapi({
          description: "Only with this peer (id or contact name) or group (name or id)",
        }),
        since: intParam("since", 0).optional().openapi({ description: "After this position" }),
        since_ts: intParam("since_ts", 0).optional().openapi({
          description: "Stored at or after this time (ms since epoch, the daemon's clock)",
        }),
        limit: intParam("limit", 1, 1000).optional().openapi({ default: 100 }),
        order: z.enum(["asc", "desc"]).default("asc"),
      }),
    },
    responses: {
      200: ok("Messages", z.object({ messages: z.array(S.MessageRecord) })),
      ...errors("bad_request", "recipient_unknown"),
    },
  }),
  message: createRoute({
    method: "get",
    path: "/messages/{id}",
    summary: "One message",
    request: { params: params("id", "The message id") },
    responses: { 200: ok("The message", S.MessageRecord), ...errors("not_found") },
  }),
  cancelMessage: createRoute({
    method: "delete",
    path: "/messages/{id}",
    summary: "Cancels an outgoing message not yet delivered",
    description: "The message becomes `failed` with reason `cancelled` (a `status` event) and " +
      "is never sent again; one already handed to the relay (`sent`) may still reach the peer. " +
      "A message that failed already is answered as it is. Refused for a delivered message " +
      "(`already_delivered`) and an incoming one (`bad_request`).",
    request: { params: params("id", "The message id") },
    responses: {
      200: ok("The message, as it is now", S.MessageRecord),
      ...errors("bad_request", "not_found", "already_delivered", "body_too_large"),
    },
  }),
  status: createRoute({
    method: "get",
    path: "/status",
    summary: "Daemon status",
    responses: { 200: ok("Status", S.DaemonStatus), ...errors() },
  }),
  me: createRoute({
    method: "get",
    path: "/me",
    summary: "This identity",
    responses: { 200: ok("Me", S.Me), ...errors() },
  }),
  rotate: createRoute({
    method: "post",
    path: "/me/rotate",
    summary: "Makes a new identity; the old one is kept as retired",
    responses: { 200: ok("The new identity", S.Me), ...errors("body_too_large") },
  }),
  removeRetired: createRoute({
    method: "delete",
    path: "/me/retired/{id}",
    summary: "Deletes a retired identity for good",
    request: { params: params("id", "The retired identity's client id") },
    responses: { 200: ok("This identity", S.Me), ...errors("not_found", "body_too_large") },
  }),
  contacts: createRoute({
    method: "get",
    path: "/contacts",
    summary: "Contacts",
    responses: { 200: ok("Contacts", z.object({ contacts: z.array(S.Contact) })), ...errors() },
  }),
  addContact: createRoute({
    method: "post",
    path: "/contacts",
    summary: "Adds a contact (its key is looked up at the relay)",
    request: { body: { required: true, content: json(S.ContactRequest) } },
    responses: {
      201: ok("The contact", S.Contact),
      ...errors(...JSON_BODY, "contact_exists", "name_taken", "recipient_unknown", "key_mismatch"),
    },
  }),
  removeContact: createRoute({
    method: "delete",
    path: "/contacts/{idOrName}",
    summary: "Removes a contact",
    request: { params: contact },
    responses: {
      204: { description: "Removed" },
      ...errors("recipient_unknown", "body_too_large"),
    },
  }),
  block: createRoute({
    method: "post",
    path: "/contacts/{idOrName}/block",
    summary: "Blocks an id (a contact, a requester or a stranger): its envelopes are dropped " +
      "unread; a requester's or stranger's messages are forgotten, a contact's history kept",
    request: { params: contact },
    responses: {
      200: ok("Blocked", z.object({ id: z.string() })),
      ...errors("bad_request", "recipient_unknown", "body_too_large"),
    },
  }),
  verifyContact: createRoute({
    method: "post",
    path: "/contacts/{idOrName}/verify",
    summary: "Marks a contact verified (or not) after comparing safety numbers",
    request: { params: contact, body: { required: false, content: json(S.VerifyRequest) } },
    responses: { 200: ok("The contact", S.Contact), ...errors(...JSON_BODY, "recipient_unknown") },
  }),
  blocked: createRoute({
    method: "get",
    path: "/blocked",
    summary: "Blocked ids",
    responses: { 200: ok("Blocked ids", z.object({ blocked: z.array(z.string()) })), ...errors() },
  }),
  unblock: createRoute({
    method: "delete",
    path: "/blocked/{id}",
    summary: "Unblocks an id (it is a stranger again)",
    request: { params: params("id", "The blocked client id") },
    responses: {
      204: { description: "Unblocked" },
      ...errors("bad_request", "not_found", "body_too_large"),
    },
  }),
  requests: createRoute({
    method: "get",
    path: "/requests",
    summary: "Message requests: ids that wrote first and are not contacts, oldest first",
    responses: {
      200: ok("Requests", z.object({ requests: z.array(S.MessageRequest) })),
      ...errors(),
    },
  }),
  declineRequest: createRoute({
    method: "delete",
    path: "/requests/{id}",
    summary: "Declines a request: it and its messages are forgotten",
    request: { params: requester },
    responses: {
      204: { description: "Declined" },
      ...errors("bad_request", "not_found", "body_too_large"),
    },
  }),
  acceptRequest: createRoute({
    method: "post",
    path: "/requests/{id}/accept",
    summary: "Accepts a request: the id becomes a contact (optionally named)",
    request: { params: requester, body: { required: false, content: json(S.AcceptRequest) } },
    responses: {
      200: ok("The new contact", S.Contact),
      ...errors(...JSON_BODY, "not_found", "name_taken"),
    },
  }),
};
