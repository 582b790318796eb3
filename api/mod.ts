/**
 * The daemon's local HTTP API (127.0.0.1:7777) and its client.
 *
 * The daemon serves it with `serveApi` (or `createApi` and lib/net); the CLI talks to it with
 * `ApiClient` (import it from `api/client.ts`, which loads neither the server nor zod). Every
 * route but `GET /health` needs `Authorization: Bearer <token>`, the token living in the state
 * dir's `api-token` (and `api-auth-header`, for `curl -H @file`). Browsers are refused: a foreign
 * Host (DNS rebinding) gets 421, an Origin or Referer 403. Each route is described once, in
 * routes.ts, with the schemas of schemas.ts.
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
export type { DaemonService, ServiceErrorCode } from "../daemon/service.ts";
export { type ApiOptions, createApi } from "./app.ts";
export {
  type Answer,
  ApiClient,
  type ApiClientOptions,
  ApiError,
  type BodyOf,
  type ClientErrorCode,
  type Contact,
  type DaemonStatus,
  type EventData,
  type EventType,
  type JournalEvent,
  type Me,
  type MessageRecord,
  type MessageRequest,
  type MessageStatus,
  type QueryOf,
} from "./client.ts";
export {
  type ApiErrorCode,
  ApiFailure,
  type ErrorBody,
  type ErrorEntry,
  ERRORS,
  type HttpErrorCode,
  toErrorBody,
} from "./errors.ts";
export { type ApiEnv, DEFAULT_BODY_LIMIT, SEND_BODY_LIMIT } from "./guard.ts";
export { type Json, type OpenApiDocument, openApiDocument } from "./openapi.ts";
export { routes } from "./routes.ts";
export { EVENT_DATA, StreamedEvent } from "./schemas.ts";
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
