/**
 * The network layer the relay and the local API share: an HTTP/1.1 server with WebSocket
 * upgrades whose every resource is bounded (connections, deadlines, head, body and message
 * sizes), and the connection limits it enforces.
 *
 * @example
 * ```ts
 * import { serve, upgradeWebSocket } from "../lib/net/mod.ts";
 *
 * const server = serve({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: (req) => {
 *     if (req.headers.get("upgrade") !== "websocket") return new Response("hi\n");
 *     const { socket, response } = upgradeWebSocket(req, { maxMessage: 1024 });
 *     socket.onmessage = (data) => socket.send(data);
 *     return response;
 *   },
 * });
 * await server.shutdown();
 * ```
 * @module
 */
export {
  bufferedBody,
  DEFAULT_SERVER_LIMITS,
  type ErrorAnswer,
  extendRequest,
  type RequestInfo,
  serve,
  type ServeOptions,
  type Server,
  type ServerEvent,
  type ServerLimits,
  trustConnection,
  upgradeWebSocket,
} from "./server.ts";
export { HttpError } from "./http1.ts";
export { streamed } from "./_exchange.ts";
export { ServerWebSocket, WS_CLOSE, type WsCloseCause, type WsOptions } from "./websocket.ts";
export { connectionBudget, descriptorLimit, sourceKey } from "./limits.ts";
