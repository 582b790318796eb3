/**
 * How a route's schemas (routes.ts) become checks: params and query through @hono/zod-openapi's
 * validators, bodies here (the bytes the guard read, decoded as strict UTF-8; JSON with its own
 * error code; a raw-text body where the route takes one), and every failure an ApiFailure whose
 * message names the field. `mount` registers a route for the OpenAPI document and the app at once.
 *
 * @module
 */
import type { OpenAPIHono, RouteConfig, RouteHandler } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler, TypedResponse } from "hono";
import type { JSONParsed } from "hono/utils/types";
import type { z } from "zod";
import { utf8Strict } from "../protocol/mod.ts";
import { ApiFailure } from "./errors.ts";
import type { ApiEnv } from "./guard.ts";

/** Media types a raw-text body may come with (curl -d sends the form type: never form-decoded). */
const RAW_TEXT_TYPES = new Set(["", "text/plain", "application/x-www-form-urlencoded"]);

/** The request's media type, lowercase, without parameters; "" when absent. */
export function mediaType(c: Context): string {
  return (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
}

/** Decodes bytes as strict UTF-8 (400 bad_request otherwise). */
export function decodeText(bytes: Uint8Array): string {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    throw new ApiFailure("bad_request", "The body is not valid UTF-8");
  }
}

function at(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const k of path) v = v !== null && typeof v === "object" ? (v as never)[k] : undefined;
  return v;
}

/**
 * Says what is wrong with `input`, naming the field: `"to" is required`, `"to" must be a string`,
 * `"to" is longer than 256 characters`; a schema's own message (a refinement) is kept as it is.
 *
 * @example
 * ```ts
 * issueMessage(SendRequest.safeParse({}).error!, {}); // '"to" is required'
 * ```
 */
export function issueMessage(error: z.ZodError, input: unknown): string {
  const issue = error.issues[0]!;
  const name = issue.path.map(String).join(".");
  if (name === "") return "The body must be a JSON object";
  const q = `"${name}"`;
  switch (issue.code) {
    case "invalid_type":
      return at(input, issue.path) === undefined
        ? `${q} is required`
        : `${q} must be ${/^[aeiou]/.test(issue.expected) ? "an" : "a"} ${issue.expected}`;
    case "too_small":
      return issue.minimum === 1 ? `${q} must not be empty` : `${q}: ${issue.message}`;
    case "too_big":
      return `${q} is longer than ${issue.maximum} characters`;
    case "custom":
      return issue.message;
    default:
      return `${q}: ${issue.message}`;
  }
}

/** The validators' hook: a failed params or query check is a bad_request naming the field. */
export function onInvalid(
  result: { success: true } | { success: false; error: z.ZodError; data?: unknown },
): void {
  if (!result.success) throw new ApiFailure("bad_request", issueMessage(result.error, result.data));
}

/** How a route reads its body besides JSON (POST /send: the raw text, `to` from the query). */
export type RawText = (c: Context<ApiEnv>, text: string) => unknown;

function bodyValidator(
  schema: z.ZodType,
  required: boolean,
  rawText: RawText | undefined,
): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const bytes = c.var.body;
    const type = mediaType(c);
    let value: unknown;
    if (!required && bytes.length === 0) value = {};
    else if (type === "application/json" || (type === "" && !rawText)) {
      const text = decodeText(bytes);
      try {
        value = JSON.parse(text);
      } catch (e) {
        throw new ApiFailure("invalid_json", `The body is not valid JSON: ${(e as Error).message}`);
      }
    } else if (rawText && RAW_TEXT_TYPES.has(type)) value = rawText(c, decodeText(bytes));
    else {
      throw new ApiFailure(
        "unsupported_media_type",
        rawText
          ? "Send JSON (application/json) or the raw text (text/plain) with ?to="
          : `Send JSON with Content-Type: application/json (got "${type.slice(0, 100)}")`,
      );
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new ApiFailure("bad_request", issueMessage(parsed.error, value));
    c.req.addValidatedData("json", parsed.data as object);
    await next();
  };
}

/**
 * Registers a route: its whole description in the OpenAPI document, and the handler behind its
 * checks. The body is checked here against the route's `application/json` schema (the package's
 * own body validator would refuse raw text and answer malformed JSON as a plain 400); with
 * `rawText`, a raw-text body is taken too, and documented as such.
 *
 * @example
 * ```ts
 * mount(app, routes.status, () => reply(service.status(), 200));
 * ```
 */
export function mount<R extends RouteConfig>(
  app: OpenAPIHono<ApiEnv>,
  route: R,
  handler: RouteHandler<R, ApiEnv>,
  opts: { rawText?: RawText } = {},
): void {
  const body = route.request?.body;
  const raw = { schema: { type: "string" as const } };
  const content = opts.rawText
    ? { ...body?.content, "text/plain": raw, "application/x-www-form-urlencoded": raw }
    : body?.content;
  app.openAPIRegistry.registerPath(
    body ? { ...route, request: { ...route.request, body: { ...body, content } } } : route,
  );
  const media = body?.content["application/json"];
  const schema = media && "schema" in media ? media.schema as z.ZodType : undefined;
  const middleware = schema ? [bodyValidator(schema, body?.required === true, opts.rawText)] : [];
  const request = { ...route.request, body: undefined };
  app.openapi({ ...route, request, hide: true, middleware }, handler as never);
}

/**
 * A JSON answer (with a trailing newline, for curl), typed as the route's response so that the
 * compiler checks it against the schema; the guard adds the security headers.
 *
 * @example
 * ```ts
 * return reply({ id: rec.id, status: rec.status }, 202);
 * ```
 */
export function reply<T, S extends 200 | 201 | 202>(
  body: T,
  status: S,
): TypedResponse<JSONParsed<T>, S, "json"> {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  }) as unknown as TypedResponse<JSONParsed<T>, S, "json">;
}

/** An empty 204 answer, typed as the route's. */
export function noContent(): TypedResponse<Record<never, never>, 204, string> {
  return new Response(null, { status: 204 }) as unknown as TypedResponse<
    Record<never, never>,
    204,
    string
  >;
}
