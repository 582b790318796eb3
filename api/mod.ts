/**
 * The daemon's local HTTP API (127.0.0.1:7777) and its client.
 *
 * The daemon serves it with `serveApi` (or `createApi` and Deno.serve); the CLI talks to it
 * with `ApiClient`. Every route but `GET /health` needs `Authorization: Bearer <token>`, the
 * token living in the state dir's `api-token` (and `api-auth-header`, for `curl -H @file`).
 * Browsers are refused: a foreign Host (DNS rebinding) gets 421, an Origin or Referer 403.
 *
 * @example
 * ```ts
 * import { ApiClient, loadOrCreateToken, serveApi } from "./api/mod.ts";
 *
 * const token = await loadOrCreateToken(stateDir);
 * const server = serveApi({ service, token, port: 7777 });
 * const api = new ApiClient({ baseUrl: server.url, token });
 * await api.send({ to: "alice", text: "hi" }); // { id: "…", status: "queued" }
 * ```
 * @module
 */
export type {
  Contact,
  DaemonService,
  DaemonStatus,
  JournalEvent,
  Me,
  MessageRecord,
  MessageRequest,
  MessageStatus,
  ServiceErrorCode,
} from "../daemon/service.ts";
export { type ApiOptions, createApi } from "./app.ts";
export { ApiClient, type ApiClientOptions, ApiError, type ClientErrorCode } from "./client.ts";
export {
  type ApiErrorCode,
  ApiFailure,
  type ErrorBody,
  type ErrorEntry,
  ERRORS,
  toErrorBody,
} from "./errors.ts";
export { type ApiEnv, DEFAULT_BODY_LIMIT, SEND_BODY_LIMIT } from "./guard.ts";
export { type Json, type OpenApiDocument, openApiDocument } from "./openapi.ts";
export {
  type ApiServer,
  DEFAULT_API_PORT,
  type LoopbackHost,
  serveApi,
  type ServeApiOptions,
} from "./serve.ts";
export { KEEPALIVE_MS } from "./sse.ts";
export { type SseMessage, SseParser } from "./sse_parse.ts";
export {
  AUTH_HEADER_FILE,
  createToken,
  loadOrCreateToken,
  readAuthHeader,
  readToken,
  TOKEN_FILE,
  writeTokenFiles,
} from "./token.ts";
