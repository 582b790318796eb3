/**
 * The baseline of the relay benchmark: the least a WebSocket forwarder can do in Deno.
 *
 * Each client first sends its 16-byte id (the server echoes it back once registered), then
 * binary messages `to(16) ‖ payload`; the server forwards `from(16) ‖ payload` to the socket
 * registered under `to`. No crypto, no limits, no framing beyond WebSocket's own. Messages to an
 * unknown id are dropped.
 *
 * Run as its own process: `deno run --allow-net=127.0.0.1 scripts/bench/bare_forwarder.ts`.
 * Prints `{"port":N}` on stdout once listening. Exits when its stdin closes (so it never outlives
 * the benchmark), on SIGTERM/SIGINT, or after `--max-seconds` (default 600).
 *
 * @module
 */
import { parseArgs } from "node:util";

const ID_LEN = 16;

/** Hex text of a 16-byte id (the routing key). */
export function hexId(id: Uint8Array): string {
  let s = "";
  for (let i = 0; i < ID_LEN; i++) s += (id[i]! < 16 ? "0" : "") + id[i]!.toString(16);
  return s;
}

/** Starts the forwarder on 127.0.0.1 at `port` (0: a free one); it is listening on return. */
export function startBareForwarder(port = 0): Deno.HttpServer<Deno.NetAddr> {
  const sockets = new Map<string, WebSocket>();
  return Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (req) => {
    if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("bare forwarder\n");
    }
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.binaryType = "arraybuffer";
    let me: Uint8Array | undefined;
    let key = "";
    socket.onmessage = (ev) => {
      if (!(ev.data instanceof ArrayBuffer)) return;
      const msg = new Uint8Array(ev.data);
      if (!me) {
        if (msg.length !== ID_LEN) return socket.close(1008, "register with a 16-byte id");
        me = msg;
        key = hexId(msg);
        sockets.set(key, socket);
        socket.send(msg);
        return;
      }
      if (msg.length < ID_LEN) return;
      const target = sockets.get(hexId(msg));
      if (!target || target.readyState !== WebSocket.OPEN) return;
      const out = new Uint8Array(msg.length);
      out.set(me, 0);
      out.set(msg.subarray(ID_LEN), ID_LEN);
      target.send(out);
    };
    socket.onclose = () => {
      if (me && sockets.get(key) === socket) sockets.delete(key);
    };
    socket.onerror = () => {};
    return response;
  });
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { port: { type: "string" }, "max-seconds": { type: "string" } },
  });
  const server = startBareForwarder(Number(values.port ?? 0));
  console.log(JSON.stringify({ port: server.addr.port }));
  const stop = () => Deno.exit(0);
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  setTimeout(stop, Number(values["max-seconds"] ?? 600) * 1000);
  // Stdin closes when the parent goes away, however it ends.
  (async () => {
    try {
      for await (const _ of Deno.stdin.readable) { /* ignore input */ }
    } finally {
      stop();
    }
  })();
}
