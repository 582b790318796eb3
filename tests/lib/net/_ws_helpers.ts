import WebSocket from "ws";
import { waitFor } from "../../harness.ts";
import {
  type ServerWebSocket,
  upgradeWebSocket,
  type WsCloseCause,
  type WsOptions,
} from "../../../lib/net/mod.ts";
import type { ServeOptions } from "../../../lib/net/server.ts";
import { startServer, type TestServer } from "./_helpers.ts";

export const dec = new TextDecoder();

export interface Closed {
  code: number;
  reason: string;
  cause: WsCloseCause;
}

/** A server whose every request is upgraded; its sockets and their closes are recorded. */
export function wsServer(
  setup: (socket: ServerWebSocket, req: Request) => void,
  o: WsOptions = {},
  serve: Partial<Omit<ServeOptions, "handler">> = {},
): TestServer & { sockets: ServerWebSocket[]; closes: Closed[] } {
  const sockets: ServerWebSocket[] = [];
  const closes: Closed[] = [];
  const s = startServer((req) => {
    const { socket, response } = upgradeWebSocket(req, o);
    sockets.push(socket);
    socket.onclose = (code, reason, cause) => closes.push({ code, reason, cause });
    setup(socket, req);
    return response;
  }, { ...serve, limits: { writeTimeoutMs: 400, ...serve.limits } }); // a 100 ms tick
  return Object.assign(s, { sockets, closes });
}

export const echo = (socket: ServerWebSocket) => {
  socket.onmessage = (data) => socket.send(data);
};

/** An npm `ws` client that records what it gets. */
export interface Client {
  ws: WebSocket;
  messages: { data: Uint8Array; binary: boolean }[];
  pings: number;
  closed: { code: number; reason: string } | undefined;
}

export async function client(
  port: number,
  o: { from?: string } = {},
): Promise<Client & AsyncDisposable> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, {
    perMessageDeflate: false,
    localAddress: o.from,
  });
  ws.binaryType = "nodebuffer";
  const c: Client & AsyncDisposable = {
    ws,
    messages: [],
    pings: 0,
    closed: undefined,
    async [Symbol.asyncDispose]() {
      if (!c.closed) ws.terminate();
      await waitFor(() => c.closed, "the client to be closed", 3000);
    },
  };
  ws.on(
    "message",
    (d: Uint8Array, binary: boolean) => c.messages.push({ data: new Uint8Array(d), binary }),
  );
  ws.on("ping", () => c.pings++);
  ws.on(
    "close",
    (code: number, reason: Uint8Array) => (c.closed = { code, reason: dec.decode(reason) }),
  );
  ws.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  return c;
}
