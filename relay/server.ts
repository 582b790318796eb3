/**
 * The relay's HTTP side: the WebSocket link endpoint at `/`, `/healthz`, `/metrics` and
 * `GET /v1/keys/{id}`. Refuses new handshakes over the per-IP rate or the pending cap before
 * upgrading, so a flood costs almost nothing.
 *
 * @module
 */
import { toBase64Url } from "../protocol/bytes.ts";
import { formatId, parseId } from "../protocol/identity.ts";
import { IpLimiter } from "./limits.ts";
import { type RelayContext, RelayLink } from "./link.ts";

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

/** Makes the relay's request handler. */
export function makeHandler(ctx: RelayContext): Deno.ServeHandler {
  const ips = new IpLimiter(ctx.limits);
  return (req, info) => {
    const url = new URL(req.url);
    const upgrade = req.headers.get("upgrade")?.toLowerCase() === "websocket";
    if (upgrade) {
      if (url.pathname !== "/") return err(404, "not_found", "The link endpoint is /");
      const ip = (info.remoteAddr as Deno.NetAddr).hostname;
      if (!ips.allow(ip, ctx.now())) {
        ctx.metrics.inc("limit_hits_total");
        ctx.log.warn("handshake_rate_limited", { ip });
        return err(429, "rate_limited", "Too many handshakes from this address");
      }
      if (ctx.pending.count >= ctx.limits.maxPendingHandshakes) {
        ctx.metrics.inc("limit_hits_total");
        return err(503, "server_busy", "Too many handshakes in progress");
      }
      if (ctx.hub.size >= ctx.limits.maxSessions + ctx.limits.maxPendingHandshakes) {
        ctx.metrics.inc("limit_hits_total");
        return err(503, "server_busy", "Too many sessions");
      }
      const { socket, response } = Deno.upgradeWebSocket(req, {
        idleTimeout: ctx.limits.idleTimeoutSeconds,
      });
      ctx.pending.count++;
      new RelayLink(ctx, socket);
      return response;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return err(405, "method_not_allowed", "Only GET is served");
    }
    if (url.pathname === "/healthz") return json(200, { ok: true });
    if (url.pathname === "/metrics") {
      const body = ctx.metrics.render({
        sessions_online: ["Logged-in sessions", ctx.hub.size],
        handshakes_pending: ["Handshakes in progress", ctx.pending.count],
        watches: ["Presence watches held", ctx.hub.watchCount],
        registry_ids: ["Ids in the registry", ctx.registry.count()],
      });
      return new Response(body, {
        headers: { "content-type": "text/plain; version=0.0.4", "cache-control": "no-store" },
      });
    }
    const m = /^\/v1\/keys\/([^/]+)$/.exec(url.pathname);
    if (m) {
      let id: Uint8Array;
      try {
        id = parseId(decodeURIComponent(m[1]!));
      } catch (e) {
        return err(400, "bad_id", (e as Error).message);
      }
      const entry = ctx.registry.lookup(id);
      if (!entry) return err(404, "unknown_id", "No identity is registered under this id");
      return json(200, {
        id: formatId(id),
        public_key: toBase64Url(entry.publicKey),
        first_seen: entry.firstSeen,
      });
    }
    return err(404, "not_found", `No route for ${url.pathname}`);
  };
}
