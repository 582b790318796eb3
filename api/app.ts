/**
 * The local API's routes: HTTP mapped onto DaemonService calls. Everything passes the guard
 * first (guard.ts); every error leaves through one mapper (errors.ts).
 *
 * @module
 */
import { type Context, Hono } from "hono";
import type { DaemonService } from "../daemon/service.ts";
import { isIdText } from "../protocol/identity.ts";
import { decodeText, intParam, jsonObject, mediaType, stringField } from "./_params.ts";
import { IDEMPOTENCY_KEY_RE, MAX_NAME_LEN, MAX_TO_LEN } from "./_schemas.ts";
import { ApiFailure } from "./errors.ts";
import { type ApiEnv, errorResponse, guard, jsonResponse } from "./guard.ts";
import { openApiDocument } from "./openapi.ts";
import { eventsHandler } from "./sse.ts";

/** Options of the API. */
export interface ApiOptions {
  /** The daemon. */
  service: DaemonService;
  /** The bearer token every route but GET /health requires. */
  token: string;
  /** The port the API is served on (the Host header must name it). */
  port: number;
  /** Browser origins allowed to call the API; none by default. */
  originAllowlist?: readonly string[];
  /** Host header values allowed besides the loopback names (a non-loopback listen address). */
  extraHosts?: readonly string[];
  /** Keepalive interval of /events in ms (default 15 s). */
  keepaliveMs?: number;
  /** Ends every open /events stream when aborted (server shutdown). */
  closeSignal?: AbortSignal;
  /** Gets unexpected errors (answered as 500 `internal`); console.error by default. */
  onInternalError?: (err: unknown) => void;
}

/** A JSON answer (with a trailing newline, for curl) and the security headers. */
const json = (body: unknown, status = 200): Response => jsonResponse(status, body);

const RAW_TEXT_TYPES = new Set(["", "text/plain", "application/x-www-form-urlencoded"]);

function sendRequest(c: Context<ApiEnv>) {
  let to: string | undefined, text: string, key: string | undefined;
  const type = mediaType(c);
  if (type === "application/json") {
    const o = jsonObject(c);
    to = stringField(o, "to", { max: MAX_TO_LEN });
    text = stringField(o, "text", { allowEmpty: true })!;
    key = stringField(o, "id", { optional: true });
  } else if (RAW_TEXT_TYPES.has(type)) {
    to = stringField({ to: c.req.query("to") }, "to", { max: MAX_TO_LEN });
    key = c.req.query("id");
    // The raw body is the text (`curl -d` form bodies included: never form-decoded). One
    // trailing newline, as `echo` or a file adds, is not part of the message.
    text = decodeText(c.var.body).replace(/\r?\n$/, "");
  } else {
    throw new ApiFailure(
      "unsupported_media_type",
      "Send JSON (application/json) or the raw text (text/plain) with ?to=",
    );
  }
  if (key !== undefined && !IDEMPOTENCY_KEY_RE.test(key)) {
    throw new ApiFailure("bad_request", "id (idempotency key) must be 1-128 printable ASCII");
  }
  if (text.trim() === "") throw new ApiFailure("text_empty");
  return { to: to!, text, ...(key === undefined ? {} : { idempotencyKey: key }) };
}

function contactName(o: Record<string, unknown>): string | undefined {
  const name = stringField(o, "name", { optional: true, max: MAX_NAME_LEN });
  // deno-lint-ignore no-control-regex
  if (name !== undefined && (/[\x00-\x1f\x7f]/.test(name) || name.trim() !== name)) {
    throw new ApiFailure("bad_request", "name must not have control characters or edge spaces");
  }
  if (name !== undefined && isIdText(name)) {
    throw new ApiFailure("bad_request", "name must not look like a client id");
  }
  return name;
}

/** Turns a route path (`/messages/:id`) into a matcher for the 405 check. */
function matcher(path: string): RegExp {
  const esc = path.split("/").map((seg) =>
    seg.startsWith(":") ? "[^/]+" : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  );
  return new RegExp(`^${esc.join("/")}$`);
}

/**
 * Makes the API app: a Hono app whose `fetch` serves with Deno.serve (see serve.ts).
 *
 * @example
 * ```ts
 * const app = createApi({ service, token, port: 7777 });
 * Deno.serve({ hostname: "127.0.0.1", port: 7777 }, app.fetch);
 * ```
 */
export function createApi(opts: ApiOptions): Hono<ApiEnv> {
  const { service } = opts;
  const onInternal = opts.onInternalError ?? ((e) => console.error("api: internal error", e));
  const app = new Hono<ApiEnv>();
  app.use("*", guard(opts));

  app.get("/health", () => json({ ok: true }));
  app.get("/openapi.json", () => json(openApiDocument()));
  app.post("/send", async (c) => {
    const rec = await service.send(sendRequest(c));
    return json({ id: rec.id, status: rec.status }, 202);
  });
  app.get("/events", eventsHandler(service, opts));
  app.get("/messages", (c) => {
    const peer = stringField({ with: c.req.query("with") }, "with", {
      optional: true,
      max: MAX_TO_LEN,
    });
    const since = intParam(c.req.query("since"), "since", { min: 0 });
    const limit = intParam(c.req.query("limit"), "limit", { min: 1, max: 1000, def: 100 });
    const q = { limit, ...(peer === undefined ? {} : { with: peer }) };
    return json({ messages: service.messages(since === undefined ? q : { ...q, since }) });
  });
  app.get("/messages/:id", (c) => json(service.message(c.req.param("id"))));
  app.get("/status", () => json(service.status()));
  app.get("/me", () => json(service.me()));
  app.post("/me/rotate", async () => json(await service.rotateIdentity()));
  app.delete("/me/retired/:id", async (c) => json(await service.removeRetired(c.req.param("id"))));
  app.get("/contacts", () => json({ contacts: service.contacts() }));
  app.post("/contacts", async (c) => {
    const o = jsonObject(c);
    const id = stringField(o, "id")!;
    if (!isIdText(id)) throw new ApiFailure("bad_request", "id must be a client id (a UUID)");
    const name = contactName(o);
    return json(await service.addContact(name === undefined ? { id } : { id, name }), 201);
  });
  app.delete("/contacts/:idOrName", async (c) => {
    await service.removeContact(c.req.param("idOrName"));
    return c.body(null, 204);
  });
  app.post(
    "/contacts/:idOrName/block",
    async (c) => json(await service.block(c.req.param("idOrName"))),
  );
  app.get("/blocked", () => json({ blocked: service.blocked() }));
  app.delete("/blocked/:id", async (c) => {
    await service.unblock(c.req.param("id"));
    return c.body(null, 204);
  });
  app.get("/requests", () => json({ requests: service.requests() }));
  app.delete("/requests/:id", async (c) => {
    await service.declineRequest(c.req.param("id"));
    return c.body(null, 204);
  });
  app.post("/requests/:id/accept", async (c) => {
    const name = contactName(jsonObject(c, true));
    const id = c.req.param("id");
    return json(await service.acceptRequest(name === undefined ? { id } : { id, name }));
  });
  app.post("/contacts/:idOrName/verify", async (c) => {
    const v = jsonObject(c, true).verified ?? true;
    if (typeof v !== "boolean") throw new ApiFailure("bad_request", '"verified" must be a boolean');
    return json(await service.verifyContact(c.req.param("idOrName"), v));
  });

  let routes: { re: RegExp; method: string }[] | undefined;
  app.notFound((c) => {
    routes ??= app.routes.filter((r) => r.method !== "ALL").map((r) => ({
      re: matcher(r.path),
      method: r.method,
    }));
    const allow = routes.filter((r) => r.re.test(c.req.path)).map((r) => r.method);
    if (allow.length === 0) return errorResponse(new ApiFailure("not_found", "No such route"));
    if (allow.includes("GET")) allow.push("HEAD");
    const res = errorResponse(
      new ApiFailure("method_not_allowed", `${c.req.path} takes ${allow.join(", ")}`),
    );
    res.headers.set("allow", allow.join(", "));
    return res;
  });
  app.onError((err) => errorResponse(err, onInternal));
  return app;
}
