/**
 * Request parsing shared by the routes: integers from the query, JSON and text bodies, fields.
 * Every failure is an ApiFailure with a message that names the parameter.
 *
 * @module
 */
import type { Context } from "hono";
import { utf8Strict } from "../protocol/bytes.ts";
import { ApiFailure } from "./errors.ts";
import type { ApiEnv } from "./guard.ts";

/**
 * Parses a decimal integer parameter in `[min, max]`; `def` when absent.
 *
 * @example
 * ```ts
 * intParam("50", "limit", { min: 1, max: 1000, def: 100 }); // 50
 * ```
 */
export function intParam(
  value: string | undefined,
  name: string,
  range: { min: number; max?: number; def?: number },
): number | undefined {
  if (value === undefined) return range.def;
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  const n = /^[0-9]{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < range.min || n > max) {
    const upper = range.max === undefined ? "" : ` to ${max}`;
    throw new ApiFailure("bad_request", `${name} must be an integer from ${range.min}${upper}`);
  }
  return n;
}

/**
 * The media type of the request (lowercase, without parameters), or "" when absent.
 *
 * @example
 * ```ts
 * mediaType(c); // "application/json" for "Application/JSON; charset=utf-8"
 * ```
 */
export function mediaType(c: Context<ApiEnv>): string {
  return (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * Decodes bytes as strict UTF-8 (400 bad_request otherwise).
 *
 * @example
 * ```ts
 * decodeText(new Uint8Array([104, 105])); // "hi"
 * ```
 */
export function decodeText(bytes: Uint8Array): string {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    throw new ApiFailure("bad_request", "The body is not valid UTF-8");
  }
}

/**
 * The request's JSON object body (from the guard's bytes), or `{}` when the body is empty and
 * `emptyOk`. Content-Type must be application/json (or absent); anything else is 415.
 *
 * @example
 * ```ts
 * const { id, name } = jsonObject(c);
 * ```
 */
export function jsonObject(c: Context<ApiEnv>, emptyOk = false): Record<string, unknown> {
  const bytes = c.var.body;
  if (emptyOk && bytes.length === 0) return {};
  const type = mediaType(c);
  if (type !== "" && type !== "application/json") {
    throw new ApiFailure(
      "unsupported_media_type",
      `Send JSON with Content-Type: application/json (got "${type.slice(0, 100)}")`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(decodeText(bytes));
  } catch (e) {
    if (e instanceof ApiFailure) throw e;
    throw new ApiFailure("invalid_json", `The body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ApiFailure("bad_request", "The body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/**
 * A string field: required unless `optional`; non-empty and at most `max` characters.
 *
 * @example
 * ```ts
 * stringField({ to: "alice" }, "to"); // "alice"
 * ```
 */
export function stringField(
  obj: Record<string, unknown>,
  name: string,
  opts: { optional?: boolean; max?: number; allowEmpty?: boolean } = {},
): string | undefined {
  const v = obj[name];
  if (v === undefined || v === null) {
    if (opts.optional) return undefined;
    throw new ApiFailure("bad_request", `"${name}" is required`);
  }
  if (typeof v !== "string") throw new ApiFailure("bad_request", `"${name}" must be a string`);
  if (v.length === 0 && !opts.allowEmpty) {
    throw new ApiFailure("bad_request", `"${name}" must not be empty`);
  }
  if (opts.max !== undefined && v.length > opts.max) {
    throw new ApiFailure("bad_request", `"${name}" is longer than ${opts.max} characters`);
  }
  return v;
}
