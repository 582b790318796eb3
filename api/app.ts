/**
 * The local API's app: each route of routes.ts mounted onto a DaemonService call. Everything passes
 * the guard first (guard.ts), then the route's checks (_validate.ts); every error leaves through
 * one mapper (errors.ts).
 *
 * @module
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { DaemonService } from "../daemon/service.ts";
import { mount, noContent, onInvalid, reply } from "./_validate.ts";
import { ApiFailure } from "./errors.ts";
import { type ApiEnv, errorResponse, guard } from "./guard.ts";
import { openApiDocument } from "./openapi.ts";
import { routes } from "./routes.ts";
import { fileRoutes } from "./routes_files.ts";
import { mountGroups } from "./routes_groups.ts";
import { downloadFile, uploadFile } from "./_files_http.ts";
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

/** POST /send's raw-text form, read as its JSON body: `{to: ?to, text, id: ?id}`. */
function rawSend(c: Context, body: string) {
  // The raw body is the text (`curl -d` form bodies included: never form-decoded). One
  // trailing newline, as `echo` or a file adds, is not part of the message.
  return { to: c.req.query("to"), text: body.replace(/\r?\n$/, ""), id: c.req.query("id") };
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
export function createApi(opts: ApiOptions): OpenAPIHono<ApiEnv> {
  const { service } = opts;
  const onInternal = opts.onInternalError ?? ((e) => console.error("api: internal error", e));
  const app = new OpenAPIHono<ApiEnv>({ defaultHook: onInvalid });
  app.use("*", guard(opts));
  const r = routes;

  mount(app, r.health, () => reply({ ok: true as const }, 200));
  // The server is the address this request reached (the guard checked its Host): the port is
  // the daemon's, whatever --api chose.
  mount(
    app,
    r.openapi,
    (c) =>
      reply({ ...openApiDocument(app), servers: [{ url: `http://${c.req.header("host")}` }] }, 200),
  );
  // Refused for load before the body is read and validated (DaemonService.checkSendCapacity).
  app.post("/send", (_c, next) => {
    service.checkSendCapacity?.();
    return next();
  });
  mount(app, r.send, async (c) => {
    const { to, text, id } = c.req.valid("json");
    const rec = await service.send({
      to,
      text,
      ...(id === undefined ? {} : { idempotencyKey: id }),
    });
    return reply({ id: rec.id, status: rec.status }, 202);
  }, { rawText: rawSend });
  mount(app, r.events, eventsHandler(service, opts));
  mount(app, r.messages, (c) => {
    const { with: peer, since, since_ts: sinceTs, limit = 100, order } = c.req.valid("query");
    const q = {
      limit,
      order,
      ...(peer === undefined ? {} : { with: peer }),
      ...(since === undefined ? {} : { since }),
      ...(sinceTs === undefined ? {} : { sinceTs }),
    };
    return reply({ messages: service.messages(q) }, 200);
  });
  mount(app, r.message, (c) => reply(service.message(c.req.valid("param").id), 200));
  mount(app, r.cancelMessage, async (c) => {
    return reply(await service.cancelMessage(c.req.valid("param").id), 200);
  });
  mount(app, r.status, () => reply(service.status(), 200));
  mount(app, r.me, () => reply(service.me(), 200));
  mount(app, r.rotate, async () => reply(await service.rotateIdentity(), 200));
  mount(app, r.removeRetired, async (c) => {
    return reply(await service.removeRetired(c.req.valid("param").id), 200);
  });
  mount(app, r.contacts, () => reply({ contacts: service.contacts() }, 200));
  mount(app, r.addContact, async (c) => {
    const { id, name } = c.req.valid("json");
    return reply(await service.addContact(name === undefined ? { id } : { id, name }), 201);
  });
  mount(app, r.removeContact, async (c) => {
    await service.removeContact(c.req.valid("param").idOrName);
    return noContent();
  });
  mount(app, r.block, async (c) => reply(await service.block(c.req.valid("param").idOrName), 200));
  mount(app, r.verifyContact, async (c) => {
    const { verified } = c.req.valid("json");
    return reply(await service.verifyContact(c.req.valid("param").idOrName, verified), 200);
  });
  mount(app, r.blocked, () => reply({ blocked: service.blocked() }, 200));
  mount(app, r.unblock, async (c) => {
    await service.unblock(c.req.valid("param").id);
    return noContent();
  });
  mount(app, r.requests, () => reply({ requests: service.requests() }, 200));
  mount(app, r.declineRequest, async (c) => {
    await service.declineRequest(c.req.valid("param").id);
    return noContent();
  });
  mount(app, r.acceptRequest, async (c) => {
    const { name } = c.req.valid("json");
    const id = c.req.valid("param").id;
    return reply(await service.acceptRequest(name === undefined ? { id } : { id, name }), 200);
  });
  const f = fileRoutes;
  mount(app, f.putFile, async (c) => reply(await uploadFile(c, service), 202));
  mount(app, f.postFile, async (c) => reply(await uploadFile(c, service), 202));
  mount(app, f.files, (c) => {
    const { with: peer, limit } = c.req.valid("query");
    const q = {
      ...(peer === undefined ? {} : { with: peer }),
      ...(limit === undefined ? {} : { limit }),
    };
    return reply({ files: service.files(q) }, 200);
  });
  mount(app, f.fileContent, (c) => downloadFile(c, service, c.req.valid("param").id) as never);
  mount(
    app,
    f.acceptFile,
    async (c) => reply(await service.acceptFile(c.req.valid("param").id), 200),
  );
  mount(
    app,
    f.deleteFile,
    async (c) => reply(await service.deleteFile(c.req.valid("param").id), 200),
  );
  mountGroups(app, service);

  let known: { re: RegExp; method: string }[] | undefined;
  app.notFound((c) => {
    // Each route appears once per handler in app.routes (its checks are handlers too).
    known ??= [
      ...new Set(
        app.routes.filter((r) => r.method !== "ALL").map((r) => {
          return `${r.method} ${r.path}`;
        }),
      ),
    ].map((k) => ({ method: k.split(" ")[0]!, re: matcher(k.split(" ")[1]!) }));
    const allow = known.filter((r) => r.re.test(c.req.path)).map((r) => r.method);
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
