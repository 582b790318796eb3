/**
 * The API's one error table and the one function that turns anything thrown into an answer.
 *
 * Every error answer has the same body: `{"error": {"code", "message", "http"}}`. The codes are
 * stable (scripts match on them); the messages are for humans and may change.
 *
 * @module
 */
import { HTTPException } from "hono/http-exception";
import { HttpError } from "../lib/net/mod.ts";
import { ServiceError, type ServiceErrorCode } from "../daemon/service.ts";

/** The HTTP layer's own codes: refusals before any route, and requests malformed as HTTP. */
export type HttpErrorCode =
  | "unauthorized"
  | "forbidden_origin"
  | "misdirected_host"
  | "body_too_large"
  | "head_too_large"
  | "invalid_json"
  | "unsupported_media_type"
  | "method_not_allowed";

/** Every error code the API answers with: the service's codes plus the HTTP layer's own. */
export type ApiErrorCode = ServiceErrorCode | HttpErrorCode;

/** One row of the error table. */
export interface ErrorEntry {
  /** The stable code. */
  code: ApiErrorCode;
  /** The HTTP status it is answered with. */
  http: number;
  /** What it means, for the README and as the default message. */
  message: string;
}

const TABLE = {
  bad_request: [400, "The request is malformed (a parameter or field is missing or invalid)"],
  invalid_json: [400, "The body is not valid JSON"],
  text_empty: [400, "The message text is empty or only white space"],
  unauthorized: [401, "Missing or wrong bearer token (see the api-token file)"],
  forbidden_origin: [403, "Requests from web pages (Origin or Referer not allowed) are refused"],
  not_found: [404, "No such route, message or contact"],
  recipient_unknown: [404, "No contact name or client id matches the recipient"],
  method_not_allowed: [405, "The route exists but not with this method"],
  contact_exists: [409, "That contact already exists"],
  name_taken: [409, "Another contact already has that name"],
  key_mismatch: [409, "The peer's identity key differs from the pinned one"],
  key_changed: [
    409,
    "The contact was verified and now uses a new key (it rotated its id): nothing is sent to it " +
    "until you verify it again (contacts verify) or accept the new key unverified (--no)",
  ],
  idempotency_conflict: [409, "That idempotency key was used for a different message"],
  already_delivered: [409, "The message was delivered already; it cannot be cancelled"],
  file_not_ready: [409, "The file is not here (yet): not received whole, or not accepted"],
  body_too_large: [413, "The request body is larger than this route accepts"],
  text_too_long: [413, "The message text is longer than a message may be"],
  file_too_large: [413, "The file is larger than max-file-bytes (nothing of it was stored)"],
  unsupported_media_type: [415, "This Content-Type is not accepted here"],
  range_not_satisfiable: [416, "The Range is outside the file"],
  misdirected_host: [421, "The Host header is not this API's loopback address and port"],
  head_too_large: [431, "The request line and headers are larger than 16 KiB"],
  internal: [500, "Internal error"],
  busy: [
    503,
    "The daemon is at capacity (its outbox is full, too many sends are in progress, or too " +
    "many messages wait for an online peer); retry after Retry-After seconds",
  ],
} as const satisfies Record<ApiErrorCode, readonly [number, string]>;

/**
 * The error table, ordered by HTTP status: every code, its status and its meaning.
 *
 * @example
 * ```ts
 * ERRORS.find((e) => e.code === "recipient_unknown")?.http; // 404
 * ```
 */
export const ERRORS: readonly ErrorEntry[] = Object.entries(TABLE).map((
  [code, [http, message]],
) => ({
  code: code as ApiErrorCode,
  http,
  message,
}));

/**
 * An error the API layer raises itself (refusals, validation); mapped like a ServiceError.
 *
 * @example
 * ```ts
 * throw new ApiFailure("bad_request", "limit must be an integer from 1 to 1000");
 * ```
 */
export class ApiFailure extends Error {
  /** Makes an error with a code from the table and an optional message for humans. */
  constructor(readonly code: ApiErrorCode, message?: string) {
    super(message ?? TABLE[code][1]);
    this.name = "ApiFailure";
  }
}

/** The JSON body of every error answer. */
export interface ErrorBody {
  /** The error. */
  error: { code: ApiErrorCode; message: string; http: number };
}

/**
 * The HTTP status of a code.
 *
 * @example
 * ```ts
 * statusOf("unauthorized"); // 401
 * ```
 */
export function statusOf(code: ApiErrorCode): number {
  return TABLE[code][0];
}

/**
 * Makes the error body of a code, with the table's message unless one is given.
 *
 * @example
 * ```ts
 * errorBody("not_found"); // { error: { code: "not_found", message: "No such …", http: 404 } }
 * ```
 */
export function errorBody(code: ApiErrorCode, message?: string): ErrorBody {
  return { error: { code, message: message ?? TABLE[code][1], http: TABLE[code][0] } };
}

function isCode(code: unknown): code is ApiErrorCode {
  return typeof code === "string" && Object.hasOwn(TABLE, code);
}

const BY_STATUS: Record<number, ApiErrorCode> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden_origin",
  404: "not_found",
  405: "method_not_allowed",
  413: "body_too_large",
  415: "unsupported_media_type",
  421: "misdirected_host",
  431: "head_too_large",
};

/**
 * The error body of an answer the HTTP layer gives before any route (lib/net's own 400, 413 and
 * 431): the same format as every other error. A body over the connection's cap on `/files` is a
 * file over max-file-bytes (the cap is max-file-bytes + 1 MiB: any other route's is far lower).
 *
 * @example
 * ```ts
 * httpLayerError(413, "Body exceeds 269484032 bytes", "/files?to=bob").error.code; // "file_too_large"
 * ```
 */
export function httpLayerError(
  status: number,
  message: string,
  target?: string,
  maxFileBytes?: number,
): ErrorBody {
  if (status === 413 && target !== undefined && /^\/files(\?|\/|$)/.test(target)) {
    const max = maxFileBytes === undefined ? "" : ` (${maxFileBytes} bytes)`;
    return errorBody("file_too_large", `The file is larger than max-file-bytes${max}`);
  }
  const code = BY_STATUS[status] ?? "bad_request";
  return errorBody(code, message);
}

/**
 * Maps anything thrown to the error body: the one place where errors become answers.
 * ServiceError and ApiFailure keep their code and message; a SyntaxError (JSON) is invalid_json;
 * a Hono HTTPException maps by status; anything else is `internal` with a generic message, so
 * no internal detail leaks (`onInternal` gets the original to log).
 *
 * @example
 * ```ts
 * toErrorBody(new ServiceError("recipient_unknown", "No contact \"bob\"")).error.http; // 404
 * ```
 */
export function toErrorBody(err: unknown, onInternal?: (err: unknown) => void): ErrorBody {
  if (err instanceof ServiceError || err instanceof ApiFailure) {
    if (isCode(err.code)) return errorBody(err.code, err.message);
  } else if (err instanceof SyntaxError) {
    return errorBody("invalid_json", `The body is not valid JSON: ${err.message}`);
  } else if (err instanceof HTTPException) {
    const code = BY_STATUS[err.status];
    if (code) return errorBody(code, err.message || undefined);
  } else if (err instanceof HttpError) {
    // lib/net refusing a body while a route reads it: the client closed in the middle of its
    // upload, or sent a malformed chunk. The client's doing, not an internal error.
    return httpLayerError(err.status, err.message);
  }
  onInternal?.(err);
  return errorBody("internal");
}
