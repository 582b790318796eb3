/**
 * The reference of the end-to-end rows: a bare Deno HTTP server (Deno.serve) with the daemon
 * API's two routes and nothing behind them.
 *
 * - `POST /send` with a JSON body `{to, text}` makes the same `message` event the daemon's
 *   journal would (`id`, `from`, `from_name`, `text`, `ts`, `seq`), writes it as one SSE
 *   message to every open `/events` stream, and answers `202 {"id","status":"queued"}`.
 * - `GET /events` is a `text/event-stream` that starts with `retry:` as the daemon's does.
 * - `PUT /files` reads the body to its end, counting its bytes, and answers
 *   `202 {"size": N}` (the reference of the `file_throughput` row: the same upload, nothing
 *   stored, sealed or sent on).
 *
 * No auth, no storage, no crypto, no relay. Run as its own process:
 * `deno run --allow-net=127.0.0.1 scripts/bench/bare_http.ts`. Prints `{"port":N}` once
 * listening; exits when stdin closes, on SIGTERM/SIGINT, or after `--max-seconds` (600).
 *
 * @module
 */
import { parseArgs } from "node:util";

const enc = new TextEncoder();

/** Starts the server on 127.0.0.1 at `port` (0: a free one); it is listening on return. */
export function startBareHttp(port = 0): Deno.HttpServer<Deno.NetAddr> {
  const streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  let seq = 0;
  return Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (req.method === "POST" && path === "/send") {
      const body = await req.json() as { to?: unknown; text?: unknown };
      if (typeof body.to !== "string" || typeof body.text !== "string") {
        return new Response('{"error":{"code":"bad_request"}}\n', { status: 400 });
      }
      const id = crypto.randomUUID();
      const data = { id, from: body.to, from_name: null, text: body.text, ts: Date.now(), seq };
      const bytes = enc.encode(`id: ${++seq}\nevent: message\ndata: ${JSON.stringify(data)}\n\n`);
      for (const c of streams) c.enqueue(bytes);
      return new Response(JSON.stringify({ id, status: "queued" }) + "\n", {
        status: 202,
        headers: { "content-type": "application/json" },
      });
    }
    if (req.method === "PUT" && path === "/files") {
      let size = 0;
      for await (const piece of req.body ?? new ReadableStream()) size += piece.length;
      return new Response(JSON.stringify({ size }) + "\n", {
        status: 202,
        headers: { "content-type": "application/json" },
      });
    }
    if (req.method === "GET" && path === "/events") {
      let ctl!: ReadableStreamDefaultController<Uint8Array>;
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          ctl = c;
          streams.add(c);
          c.enqueue(enc.encode("retry: 3000\n\n"));
        },
        cancel() {
          streams.delete(ctl);
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    }
    return new Response("not found\n", { status: 404 });
  });
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { port: { type: "string" }, "max-seconds": { type: "string" } },
  });
  const server = startBareHttp(Number(values.port ?? 0));
  console.log(JSON.stringify({ port: server.addr.port }));
  const stop = () => Deno.exit(0);
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  setTimeout(stop, Number(values["max-seconds"] ?? 600) * 1000);
  (async () => {
    try {
      for await (const _ of Deno.stdin.readable) { /* ignore input */ }
    } finally {
      stop();
    }
  })();
}
