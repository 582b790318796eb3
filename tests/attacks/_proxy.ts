/**
 * A WebSocket man in the middle for the attack tests: it listens on 127.0.0.1:0, dials the relay
 * for each connection, and passes every message through a hook that may forward, drop, duplicate
 * or hold it. It cannot read anything (the link is encrypted); it can only move bytes around.
 *
 * @module
 */
import WsClient from "ws";
import { formatRelayAddress, parseRelayAddress } from "../../protocol/address.ts";

/** Decides what happens to message `i` of one direction; `forward` sends bytes on. */
export type Hook = (i: number, bytes: Uint8Array, forward: (b: Uint8Array) => void) => void;

/** A running proxy. */
export interface Proxy {
  /** A relay address that dials the proxy but pins the real relay's key. */
  address: string;
  /** Messages the client sent (before the hook), per connection. */
  up: Uint8Array[];
  /** Messages the relay sent (before the hook). */
  down: Uint8Array[];
  /** Messages forwarded to the relay (after the hook). */
  forwardedUp: number;
  close(): Promise<void>;
}

const passThrough: Hook = (_i, b, forward) => forward(b);

function closeCodeOk(code: number): boolean {
  return code === 1000 || (code >= 3000 && code <= 4999);
}

/** Starts a proxy in front of the relay at `relayAddress`. One client connection at a time. */
export function startProxy(
  relayAddress: string,
  hooks: { up?: Hook; down?: Hook } = {},
): Proxy {
  const { url, key } = parseRelayAddress(relayAddress);
  const ac = new AbortController();
  const sockets = new Set<WsClient>();
  const proxy: Proxy = {
    address: "",
    up: [],
    down: [],
    forwardedUp: 0,
    async close() {
      for (const s of sockets) s.terminate();
      ac.abort();
      await server.finished;
    },
  };
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: ac.signal,
    onListen: () => {},
  }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.binaryType = "arraybuffer";
    const upstream = new WsClient(url, { perMessageDeflate: false });
    upstream.binaryType = "nodebuffer";
    sockets.add(upstream);
    const queue: Uint8Array[] = [];
    let upOpen = false;
    let i = 0;
    let j = 0;
    const toRelay = (b: Uint8Array) => {
      proxy.forwardedUp++;
      if (upOpen) upstream.send(b);
      else queue.push(b);
    };
    const toClient = (b: Uint8Array) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(b);
    };
    socket.onmessage = (ev) => {
      const b = new Uint8Array(ev.data as ArrayBuffer);
      proxy.up.push(b);
      (hooks.up ?? passThrough)(i++, b, toRelay);
    };
    socket.onclose = () => upstream.close();
    socket.onerror = () => {};
    upstream.on("open", () => {
      upOpen = true;
      for (const b of queue.splice(0)) upstream.send(b);
    });
    upstream.on("message", (data: Buffer) => {
      const b = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
      proxy.down.push(b);
      (hooks.down ?? passThrough)(j++, b, toClient);
    });
    upstream.on("error", () => {});
    upstream.on("close", (code: number, reason: Buffer) => {
      sockets.delete(upstream);
      try {
        if (closeCodeOk(code)) socket.close(code, reason.toString());
        else socket.close();
      } catch {
        // already closing
      }
    });
    return response;
  });
  proxy.address = formatRelayAddress(`ws://127.0.0.1:${server.addr.port}/`, key);
  return proxy;
}
