import { assertEquals, assertOk } from "../../_assert.ts";
import { waitFor } from "../../harness.ts";
import { bytes, concat, Peer, settle, startServer } from "./_helpers.ts";
import { echo, gate, ok } from "./_server_helpers.ts";

// --- refusals over the wire -------------------------------------------------------------------

Deno.test("server: malformed requests are answered with their status, then closed", async () => {
  await using s = startServer(echo, { limits: { maxBodyBytes: 10 } });
  const cases: [string, number][] = [
    ["GET / HTTP/1.1\nHost: x\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400],
    ["POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400],
    ["POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", 400],
    ["POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501],
    ["GET / HTTP/2.0\r\n\r\n", 505],
    ["POST / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", 417],
    ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", 413],
    ["GET / HTTP/1.1\r\n\r\n", 400], // no Host
    ["GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400],
    ["GET http://evil/ HTTP/1.1\r\n\r\n", 400],
    [`GET / HTTP/1.1\r\n${"X: 1\r\n".repeat(101)}\r\n`, 431],
  ];
  for (const [head, status] of cases) {
    await using p = await Peer.connect(s.port);
    await p.write(head);
    const r = await p.response();
    assertEquals(r.status, status, JSON.stringify(head));
    assertEquals([r.get("connection"), r.get("content-type")], ["close", "text/plain"]);
    assertOk(r.text().length > 1, "says what was wrong");
    await p.closed();
  }
  assertEquals(s.count("bad_request"), cases.length);
  assertEquals(
    s.events.flatMap((e) => (e.kind === "bad_request" ? [e.status] : [])),
    cases.map(([, st]) => st),
  );
});

Deno.test("server: 431 for a head over maxHeadBytes, at the default and a set limit", async () => {
  for (const max of [undefined, 8192]) {
    const limit = max ?? 16 * 1024;
    await using s = startServer(ok, max ? { limits: { maxHeadBytes: max } } : {});
    // Exactly `limit` bytes with no end of head (all read by the server: a clean close).
    await using p = await Peer.connect(s.port);
    const start = "GET / HTTP/1.1\r\nHost: x\r\nX: ";
    await p.write(start + "a".repeat(limit - start.length));
    const r = await p.response();
    assertEquals(r.status, 431, `limit ${limit}`);
    await p.closed();
    // A head just under the limit is fine.
    await using q = await Peer.connect(s.port);
    await q.write(`${start}${"a".repeat(limit - start.length - 4)}\r\n\r\n`);
    assertEquals((await q.response()).status, 200);
  }
});

// --- deadlines --------------------------------------------------------------------------------

Deno.test("server: a half-sent head is closed after headTimeoutMs", async () => {
  await using s = startServer(ok, { limits: { headTimeoutMs: 200 } });
  await using p = await Peer.connect(s.port);
  const t0 = Date.now();
  await p.write("GET / HTTP/1.1\r\nHos");
  const sent = await p.closed("the head deadline", 3000);
  const took = Date.now() - t0;
  assertOk(took >= 150 && took < 1500, `closed after ${took} ms`);
  assertEquals(sent, "", "no response to a head that never ended");
  assertEquals(s.events.filter((e) => e.kind === "timeout"), [{ kind: "timeout", phase: "head" }]);
  // A connection that sends nothing at all is closed the same.
  await using q = await Peer.connect(s.port);
  await q.closed("the first-head deadline", 3000);
  assertEquals(s.count("timeout"), 2);
});

Deno.test("server: a head trickled byte by byte does not extend its deadline", async () => {
  await using s = startServer(ok, { limits: { headTimeoutMs: 300 } });
  await using p = await Peer.connect(s.port);
  const t0 = Date.now();
  const head = "GET / HTTP/1.1\r\nX: " + "a".repeat(200);
  // Pacing the sender (not waiting on a result): one byte every 20 ms, bounded.
  for (let i = 0; i < head.length && !p.eof; i++) {
    await p.write(head[i]!).catch(() => {});
    await settle(20);
  }
  await p.closed("the absolute head deadline", 3000);
  const took = Date.now() - t0;
  assertOk(took >= 250 && took < 1500, `closed after ${took} ms`);
});

Deno.test("server: an idle keep-alive connection is closed after keepAliveTimeoutMs", async () => {
  await using s = startServer(ok, {
    limits: { keepAliveTimeoutMs: 200, headTimeoutMs: 5000, writeTimeoutMs: 400 },
  });
  await using p = await Peer.connect(s.port);
  await p.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assertEquals((await p.response()).status, 200);
  const t0 = Date.now();
  await p.closed("the keep-alive deadline", 3000);
  const took = Date.now() - t0;
  assertOk(took >= 150 && took < 1500, `closed after ${took} ms`);
  assertEquals(s.events, [{ kind: "timeout", phase: "idle" }]);
});

Deno.test("server: a request (body and handler) is bounded by requestTimeoutMs", async () => {
  using g = gate();
  await using s = startServer(async () => {
    await g.wait;
    return ok();
  }, { limits: { requestTimeoutMs: 200, headTimeoutMs: 400 } });
  await using p = await Peer.connect(s.port);
  await p.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  await p.closed("the request deadline", 3000);
  assertEquals(s.events, [{ kind: "timeout", phase: "request" }]);
  // A body that never comes is bounded the same.
  await using q = await Peer.connect(s.port);
  await q.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  await q.closed("the request deadline on a slow body", 3000);
  assertEquals(s.count("timeout"), 2);
});

Deno.test("server: a response write to a peer that stopped reading times out", async () => {
  const body = new Uint8Array(32 * 1024 * 1024);
  await using s = startServer(() => new Response(body), { limits: { writeTimeoutMs: 200 } });
  await using p = await Peer.connect(s.port, { read: false });
  await p.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  await waitFor(() => s.count("timeout") > 0, "the write deadline", 5000);
  assertEquals(s.events, [{ kind: "timeout", phase: "write" }]);
  await waitFor(() => s.server.connections === 0, "the connection to be closed", 2000);
});

// --- misc -------------------------------------------------------------------------------------

Deno.test("server: a body over maxBodyBytes by Content-Length is 413 before any is read", async () => {
  let called = false;
  await using s = startServer(() => {
    called = true;
    return ok();
  }, { limits: { maxBodyBytes: 1000 } });
  await using p = await Peer.connect(s.port);
  await p.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n");
  assertEquals((await p.response()).status, 413);
  await p.closed();
  assertOk(!called, "the handler never ran");
  await using q = await Peer.connect(s.port);
  await q.write(concat(
    bytes("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"),
    new Uint8Array(1000),
  ));
  assertEquals((await q.response()).status, 200);
});
