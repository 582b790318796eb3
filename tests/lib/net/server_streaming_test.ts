import { assertEquals, assertOk, assertThrows } from "../../_assert.ts";
import { waitFor } from "../../harness.ts";
import { trustConnection, upgradeWebSocket } from "../../../lib/net/mod.ts";
import { bytes, latin1, Peer, startServer } from "./_helpers.ts";
import { feed, ok } from "./_server_helpers.ts";

// --- streaming --------------------------------------------------------------------------------

Deno.test("server: an event stream is chunked, and cancelled when the client goes away", async () => {
  const f = feed();
  await using s = startServer(() =>
    new Response(f.stream, { headers: { "content-type": "text/event-stream" } })
  );
  await using p = await Peer.connect(s.port);
  await p.write("GET /events HTTP/1.1\r\nHost: x\r\n\r\n");
  f.push("data: 1\n\n");
  await p.until((b) => latin1(b).includes("data: 1"), "the first event");
  const head = p.text();
  assertOk(/^HTTP\/1\.1 200 OK\r\n/.test(head), head);
  assertOk(/\r\ntransfer-encoding: chunked\r\n/.test(head), head);
  assertOk(!/content-length/.test(head), head);
  assertOk(head.endsWith("\r\n\r\n9\r\ndata: 1\n\n\r\n"), JSON.stringify(head));
  p.consume(head.length);
  f.push("data: 2\n\n");
  f.push("");
  f.push("data: 33\n\n");
  await p.until((b) => latin1(b).includes("data: 33"), "more events");
  assertEquals(p.text(), "9\r\ndata: 2\n\n\r\na\r\ndata: 33\n\n\r\n", "empty chunks are not sent");
  // The client goes away while the server waits for the next event.
  p.close();
  await waitFor(() => f.cancelled, "the stream to be cancelled", 3000);
  await waitFor(() => s.server.connections === 0, "the connection to be closed", 2000);
});

Deno.test("server: an ndjson stream that ends leaves the connection usable", async () => {
  const f = feed();
  await using s = startServer((req) =>
    new URL(req.url).pathname === "/s"
      ? new Response(f.stream, { headers: { "content-type": "application/x-ndjson" } })
      : ok()
  );
  await using p = await Peer.connect(s.port);
  await p.write("GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
  f.push('{"a":1}\n');
  f.push('{"b":2}\n');
  f.end();
  const r = await p.response();
  assertEquals([r.status, r.get("transfer-encoding"), r.text()], [
    200,
    "chunked",
    '{"a":1}\n{"b":2}\n',
  ]);
  assertEquals(latin1(r.wire), '8\r\n{"a":1}\n\r\n8\r\n{"b":2}\n\r\n0\r\n\r\n');
  assertOk(!f.cancelled);
  await p.write("GET /next HTTP/1.1\r\nHost: x\r\n\r\n");
  assertEquals((await p.response()).text(), "ok");
});

Deno.test("server: a stream to an HTTP/1.0 client is framed by the close", async () => {
  const f = feed();
  await using s = startServer(() =>
    new Response(f.stream, { headers: { "content-type": "text/event-stream" } })
  );
  await using p = await Peer.connect(s.port);
  await p.write("GET / HTTP/1.0\r\n\r\n");
  f.push("data: a\n\n");
  f.push("data: b\n\n");
  f.end();
  const r = await p.response();
  assertEquals([r.status, r.get("transfer-encoding"), r.get("content-length")], [
    200,
    undefined,
    undefined,
  ]);
  assertEquals(r.text(), "data: a\n\ndata: b\n\n");
  assertOk(p.eof);
});

Deno.test("server: other bodies are sent whole, with Content-Length, even from a stream", async () => {
  await using s = startServer(() =>
    new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(bytes("ab"));
          c.enqueue(bytes("cd"));
          c.close();
        },
      }),
      { headers: { "content-type": "text/plain" } },
    )
  );
  await using p = await Peer.connect(s.port);
  await p.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const r = await p.response();
  assertEquals([r.get("content-length"), r.get("transfer-encoding"), r.text()], [
    "4",
    undefined,
    "abcd",
  ]);
});

// --- handler errors ---------------------------------------------------------------------------

Deno.test("server: a handler that throws gets a 500, and the connection goes on", async () => {
  await using s = startServer((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/sync") throw new Error("boom");
    if (path === "/async") return Promise.reject(new TypeError("later boom"));
    return ok();
  });
  await using p = await Peer.connect(s.port);
  for (const path of ["/sync", "/async"]) {
    await p.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const r = await p.response();
    assertEquals([r.status, r.text()], [500, "Internal Server Error\n"]);
  }
  await p.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assertEquals((await p.response()).status, 200);
  const errors = s.events.flatMap((e) => (e.kind === "handler_error" ? [e.error] : []));
  assertEquals(errors.map((e) => (e as Error).message), ["boom", "later boom"]);
});

Deno.test("server: upgradeWebSocket and trustConnection on a foreign Request", () => {
  const req = new Request("http://x/", { headers: { upgrade: "websocket" } });
  assertThrows(() => upgradeWebSocket(req), (e) => e instanceof TypeError);
  trustConnection(req); // a no-op
});
