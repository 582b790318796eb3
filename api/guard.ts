/**
 * The API's front door, one middleware that runs before any route, in this order:
 *
 * 1. Host must be `localhost`, `127.0.0.1` or `[::1]` with the API's port (DNS rebinding) → 421.
 * 2. An `Origin` or `Referer` header not on the allowlist (empty by default) → 403.
 * 3. `Authorization: Bearer <token>` on every route but `GET /health`, compared in constant time;
 *    missing and wrong get the same 401.
 * 4. The body is read here, counting the bytes actually received (not only Content-Length),
 *    up to the route's limit → 413; routes get the bytes from `c.var.body`.
 *
 * A refused request never reaches a route, so never the service. Every response, refusals
 * included, carries the security headers, and no `Access-Control-*` header ever leaves.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { bufferedBody, trustConnection } from "../lib/net/mod.ts";
import { constantTimeEqual, MAX_TEXT_BYTES, utf8 } from "../protocol/mod.ts";
import { ApiFailure, type ErrorBody, statusOf, toErrorBody } from "./errors.ts";
import { BUSY_RETRY_AFTER_S, ServiceError } from "../daemon/service.ts";

/** Largest body of `POST /send` (64 KiB): a message of the largest envelope, with room for JSON. */
export const SEND_BODY_LIMIT = 64 * 1024;

const SEND_TOO_LARGE = `A message's text is limited to ${MAX_TEXT_BYTES} bytes ` +
  `(and the body of POST /send to ${SEND_BODY_LIMIT})`;

/** Largest body of any other route (8 KiB): they take small JSON objects. */
export const DEFAULT_BODY_LIMIT = 8 * 1024;

/** The Hono environment of the API: the guard leaves the request body in `body`. */
export type ApiEnv = { Variables: { body: Uint8Array } };

/** Headers on every response. `no-store`: nothing the API says belongs in a cache. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "x-content-type-options": "nosniff",
  "cache-control": "no-store",
  "x-frame-options": "DENY",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  "referrer-policy": "no-referrer",
  "cross-origin-resource-policy": "same-origin",
};

/** Options of the guard. */
export interface GuardOptions {
  /** The bearer token. */
  token: string;
  /** The port the API listens on (the Host header must name it). */
  port: number;
  /** Origins (`scheme://host:port`) allowed to call the API from a browser; empty by default. */
  originAllowlist?: readonly string[];
  /** Host header values allowed besides the loopback names (a non-loopback listen address). */
  extraHosts?: readonly string[];
}

/**
 * The response headers through which a server grants cross-origin access (the Fetch standard's
 * CORS protocol, and Private Network Access's): the API never sends one. Deleted by name, not
 * found by iterating: iterating a Response's headers sorts and copies them (~7 µs and ~20 KB of
 * garbage per request here, a tenth of what a `POST /send` allocated).
 */
const CORS_RESPONSE_HEADERS = [
  "access-control-allow-origin",
  "access-control-allow-credentials",
  "access-control-allow-methods",
  "access-control-allow-headers",
  "access-control-expose-headers",
  "access-control-max-age",
  "access-control-allow-private-network",
] as const;

/**
 * Applies the security headers to a response and removes any CORS header; returns it.
 *
 * @example
 * ```ts
 * secure(new Response("x")).headers.get("x-content-type-options"); // "nosniff"
 * ```
 */
export function secure(res: Response): Response {
  let out = res;
  try {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) out.headers.set(k, v);
  } catch { // immutable headers (a fetched response): copy it
    out = new Response(res.body, res);
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) out.headers.set(k, v);
  }
  for (const k of CORS_RESPONSE_HEADERS) out.headers.delete(k);
  return out;
}

/**
 * A JSON response with the security headers.
 *
 * @example
 * ```ts
 * jsonResponse(200, { ok: true }).status; // 200
 * ```
 */
export function jsonResponse(status: number, body: unknown, headers?: HeadersInit): Response {
  const res = new Response(JSON.stringify(body) + "\n", { status, headers });
  res.headers.set("content-type", "application/json; charset=utf-8");
  return secure(res);
}

/**
 * The error response of anything thrown (see `toErrorBody`).
 *
 * @example
 * ```ts
 * errorResponse(new ApiFailure("unauthorized")).status; // 401
 * ```
 */
export function errorResponse(err: unknown, onInternal?: (err: unknown) => void): Response {
  const body: ErrorBody = toErrorBody(err, onInternal);
  const headers: Record<string, string> = {};
  if (body.error.code === "unauthorized") headers["www-authenticate"] = 'Bearer realm="schied"';
  if (body.error.code === "busy") {
    const after = err instanceof ServiceError ? err.retryAfterS : undefined;
    headers["retry-after"] = String(after ?? BUSY_RETRY_AFTER_S);
  }
  return jsonResponse(statusOf(body.error.code), body, headers);
}

function allowedHosts(port: number): Set<string> {
  const hosts = ["localhost", "127.0.0.1", "[::1]"];
  const out = new Set(hosts.map((h) => `${h}:${port}`));
  if (port === 80) { for (const h of hosts) out.add(h); }
  return out;
}

/** SHA-256, synchronously (node:crypto): an awaited WebCrypto digest per request cost ~4 %. */
function sha256(text: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(utf8.encode(text)).digest());
}

const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

function isOpenRoute(c: Context): boolean {
  return (c.req.method === "GET" || c.req.method === "HEAD") && c.req.path === "/health";
}

function checkOrigin(c: Context, allow: ReadonlySet<string>): void {
  const origin = c.req.header("origin");
  if (origin !== undefined && !allow.has(origin)) {
    throw new ApiFailure("forbidden_origin", `Origin "${origin.slice(0, 100)}" is not allowed`);
  }
  const referer = c.req.header("referer");
  if (referer !== undefined) {
    let from: string | null = null;
    try {
      from = new URL(referer).origin;
    } catch { /* an unparsable referer is refused below */ }
    if (from === null || !allow.has(from)) {
      throw new ApiFailure("forbidden_origin", "Requests referred by a web page are refused");
    }
  }
}

/**
 * Reads a request body, refusing it (413) past `limit` bytes whatever Content-Length says.
 *
 * @example
 * ```ts
 * await readBodyLimited(new Request("http://x/", { method: "POST", body: "hi" }), 10); // 2 bytes
 * ```
 */
export async function readBodyLimited(
  req: Request,
  limit: number,
  what = `The body of this route is limited to ${limit} bytes`,
): Promise<Uint8Array> {
  const tooLarge = () => new ApiFailure("body_too_large", what);
  // Came whole with its head (lib/net): its bytes, without a stream.
  const whole = bufferedBody(req);
  if (whole) {
    if (whole.length > limit) throw tooLarge();
    return whole;
  }
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) {
    await req.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (req.body === null) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const ch of chunks) {
    out.set(ch, o);
    o += ch.length;
  }
  return out;
}

/**
 * Makes the guard middleware (see the module doc for what it checks, in order).
 *
 * @example
 * ```ts
 * app.use("*", guard({ token, port: 7777 }));
 * ```
 */
export function guard(opts: GuardOptions): MiddlewareHandler<ApiEnv> {
  const hosts = allowedHosts(opts.port);
  for (const h of opts.extraHosts ?? []) hosts.add(h.toLowerCase());
  const origins = new Set(opts.originAllowlist ?? []);
  const want = sha256(opts.token);
  return async (c, next) => {
    try {
      const host = c.req.header("host")?.toLowerCase();
      if (host === undefined || !hosts.has(host)) {
        throw new ApiFailure("misdirected_host", `Host must be localhost:${opts.port}`);
      }
      checkOrigin(c, origins);
      if (!isOpenRoute(c)) {
        const m = BEARER.exec(c.req.header("authorization") ?? "");
        // Both sides are hashed first, so the comparison takes the same time for any length.
        const got = sha256(m?.[1] ?? "");
        if (!m || !constantTimeEqual(got, want)) throw new ApiFailure("unauthorized");
        // Its connection now belongs to the token's holder: never evicted at the cap.
        trustConnection(c.req.raw);
      }
      // A too-large /send names the limit its sender can act on: the text's. An upload to
      // /files is the route's to read, as a stream (its limit is max-file-bytes).
      const upload = c.req.path === "/files" && (c.req.method === "PUT" || c.req.method === "POST");
      c.set(
        "body",
        upload
          ? new Uint8Array(0)
          : c.req.path === "/send"
          ? await readBodyLimited(c.req.raw, SEND_BODY_LIMIT, SEND_TOO_LARGE)
          : await readBodyLimited(c.req.raw, DEFAULT_BODY_LIMIT),
      );
    } catch (e) {
      return errorResponse(e);
    }
    await next();
    const res = secure(c.res);
    if (res !== c.res) c.res = res;
  };
}
