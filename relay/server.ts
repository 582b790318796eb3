/**
 * The relay's HTTP side: the WebSocket link endpoint at `/`, `/healthz` and `GET /v1/keys/{id}`
 * on the public listener; `/metrics` on its own listener (loopback by default). Refuses new
 * handshakes over the per-IP rate or the handshake caps before upgrading, so a flood costs
 * almost nothing; every refusal is counted and logged in aggregate (log.ts RefusalLog).
 *
 * @module
 */
import { toBase64Url } from "../protocol/bytes.ts";
import { formatId, parseId } from "../protocol/identity.ts";
import { HttpError, type RequestInfo, upgradeWebSocket } from "../lib/net/mod.ts";
import { IpLimiter } from "./limits.ts";
import { closeCode, type RelayContext, RelayLink } from "./link.ts";
import { LINK_MAX_HANDSHAKE_MESSAGE } from "../protocol/constants.ts";

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: {
      "content-type": "application/json",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    },
  });
}

function err(status: number, code: string, message: string): Response {
  return json(status, { error: { code, message, http: status } });
}

/** `GET /v1/keys/{id}`: the registry may answer later (a cluster's is in Redis). */
async function lookupKey(ctx: RelayContext, id: Uint8Array): Promise<Response> {
  let entry;
  try {
    entry = await ctx.registry.lookup(id);
  } catch {
    return err(503, "registry_unavailable", "The registry cannot be reached; retry later");
  }
  if (!entry) return err(404, "unknown_id", "No identity is registered under this id");
  return json(200, { id: formatId(id), public_key: toBase64Url(entry.publicKey) });
}

/** Makes the handler of the relay's public listener. */
export function makeHandler(
  ctx: RelayContext,
): (req: Request, info: RequestInfo) => Response | Promise<Response> {
  const l = ctx.limits;
  const handshakes = new IpLimiter(
    l.handshakesPerIpPerSecond,
    l.handshakeBurstPerIp,
    l.maxTrackedIps,
  );
  const lookups = new IpLimiter(
    l.keyLookupsPerIpPerSecond,
    2 * l.keyLookupsPerIpPerSecond,
    l.maxTrackedIps,
  );
  const refuse = (kind: string, status: number, code: string, message: string) => {
    ctx.metrics.inc("limit_hits_total");
    ctx.refusals.count(kind);
    return err(status, code, message);
  };
  return (req, info) => {
    const url = new URL(req.url);
    const upgrade = req.headers.get("upgrade")?.toLowerCase() === "websocket";
    if (upgrade) {
      if (url.pathname !== "/") return err(404, "not_found", "The link endpoint is /");
      if (!handshakes.allow(info.source, ctx.now())) {
        return refuse(
          "handshake_rate_limited",
          429,
          "rate_limited",
          "Too many handshakes from this address",
        );
      }
      const link = new RelayLink(ctx, info.source);
      const admit = ctx.pending.admit(link, "oldest");
      if (admit === "per_source") {
        return refuse(
          "handshakes_per_ip",
          429,
          "rate_limited",
          "Too many handshakes in progress from this address",
        );
      }
      if (admit === "full") {
        return refuse("handshakes_full", 503, "server_busy", "Too many handshakes in progress");
      }
      let up;
      try {
        up = upgradeWebSocket(req, {
          // Before the login no message may exceed the largest handshake message; a bigger one
          // closes the link when its header arrives, before any of it is buffered.
          maxMessage: LINK_MAX_HANDSHAKE_MESSAGE,
          tooBig: { code: closeCode("auth_failed"), reason: "auth_failed" },
          idleTimeoutSeconds: l.idleTimeoutSeconds,
        });
      } catch (e) {
        ctx.pending.release(link);
        if (e instanceof HttpError) return err(e.status, "bad_request", e.message);
        throw e;
      }
      link.start(up.socket);
      return up.response;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return err(405, "method_not_allowed", "Only GET is served");
    }
    if (url.pathname === "/healthz") return json(200, { ok: true });
    const m = /^\/v1\/keys\/([^/]+)$/.exec(url.pathname);
    if (m) {
      if (!lookups.allow(info.source, ctx.now())) {
        return refuse(
          "key_lookup_rate_limited",
          429,
          "rate_limited",
          "Too many key lookups from this address",
        );
      }
      let id: Uint8Array;
      try {
        id = parseId(decodeURIComponent(m[1]!));
      } catch (e) {
        return err(400, "bad_id", (e as Error).message);
      }
      return lookupKey(ctx, id);
    }
    return err(404, "not_found", `No route for ${url.pathname}`);
  };
}

/** Makes the handler of the metrics listener: Prometheus text at `/metrics`. */
export function makeMetricsHandler(ctx: RelayContext): (req: Request) => Response {
  return (req) => {
    const url = new URL(req.url);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return err(405, "method_not_allowed", "Only GET is served");
    }
    if (url.pathname === "/healthz") return json(200, { ok: true });
    if (url.pathname !== "/metrics") return err(404, "not_found", `No route for ${url.pathname}`);
    const body = ctx.metrics.render({
      sessions_online: ["Logged-in sessions", ctx.hub.size],
      handshakes_pending: ["Handshakes in progress", ctx.pending.size],
      watches: ["Presence watches held", ctx.hub.watchCount],
      registry_ids: ["Ids in the registry", ctx.registry.count()],
      connections_open: ["TCP connections open on the public listener", ctx.connections()],
      queued_bytes: [
        "Bytes of envelopes queued towards sessions (at most)",
        ctx.queueBudget.measure(),
      ],
      ...ctx.gauges?.(),
    });
    return new Response(body, {
      headers: { "content-type": "text/plain; version=0.0.4", "cache-control": "no-store" },
    });
  };
}
