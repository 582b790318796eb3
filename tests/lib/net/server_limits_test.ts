import { assertEquals, assertOk } from "../../_assert.ts";
import { waitFor } from "../../harness.ts";
import { trustConnection } from "../../../lib/net/mod.ts";
import { Peer, settle, startServer } from "./_helpers.ts";
import { ok } from "./_server_helpers.ts";

// --- connection limits ------------------------------------------------------------------------

/** A server whose every request trusts its connection, full-waiting at `maxConnections`. */
function trustingServer(maxConnections: number, evictAfterMs: number) {
  return startServer((req) => {
    trustConnection(req);
    return ok();
  }, { limits: { maxConnections, whenFull: "wait", evictAfterMs } });
}

/** Connects and makes one request that must answer 200 (the connection stays open). */
async function servedPeer(port: number): Promise<Peer> {
  const p = await Peer.connect(port);
  await p.write(GET_ROOT);
  assertEquals((await p.response()).status, 200);
  return p;
}

const GET_ROOT = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

Deno.test("server: over the per-source cap a newcomer's request is answered 503 and closed", async () => {
  await using s = startServer(ok, { limits: { maxConnectionsPerSource: 2 } });
  await using a = await Peer.connect(s.port);
  await using b = await Peer.connect(s.port);
  await waitFor(() => s.server.connections === 2, "two connections admitted");
  await using c = await Peer.connect(s.port);
  // The answer waits for the request: a client answered before it asks sees a broken connection.
  await waitFor(() => s.count("refused") === 1, "c refused");
  assertOk(!c.eof && c.buffered.length === 0, "nothing said before the request");
  await c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const r = await c.response(2000);
  assertEquals([r.status, r.get("connection"), r.get("content-length")], [503, "close", "0"]);
  await c.closed();
  assertEquals(s.events, [{ kind: "refused", reason: "per_source" }]);
  // Another source is not affected; the held ones still work.
  await using d = await Peer.connect(s.port, { from: "127.0.0.2" });
  await d.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assertEquals((await d.response()).status, 200);
  for (const p of [a, b]) {
    await p.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assertEquals((await p.response()).status, 200);
  }
  // A slot freed is a slot for the same source again.
  a.close();
  await waitFor(() => s.server.connections === 2, "a's slot freed");
  await using e = await Peer.connect(s.port);
  await e.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assertEquals((await e.response()).status, 200);
});

Deno.test("server: a refused client that already sent its request reads the 503, not a reset", async () => {
  await using s = startServer((req) => {
    trustConnection(req); // the one held connection cannot be evicted to make room
    return ok();
  }, { limits: { maxConnections: 1 } });
  await using held = await Peer.connect(s.port);
  await held.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assertEquals((await held.response()).status, 200);
  // fetch writes its whole POST at once; the refusal must still reach it intact (a close with
  // the request unread would reset the connection and lose the answer), with a hint to retry.
  for (let i = 0; i < 20; i++) {
    const r = await fetch(`${s.url}/send`, { method: "POST", body: "x".repeat(32 * 1024) });
    await r.body?.cancel();
    assertEquals([r.status, r.headers.get("retry-after")], [503, "1"]);
  }
  await using raw = await Peer.connect(s.port);
  await raw.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel");
  await raw.write("lo"); // the answer waits for the declared body
  const r = await raw.response(2000);
  assertEquals([r.status, r.get("retry-after"), r.get("connection")], [503, "1", "close"]);
  await raw.closed();
});

Deno.test("server: at the total cap the biggest source's oldest idle connection makes room", async () => {
  let seen = "";
  await using s = startServer((_req, info) => {
    seen = info.source;
    return ok();
  }, { limits: { maxConnections: 3, maxConnectionsPerSource: 10 } });
  assertEquals(s.server.limits.maxConnections, 3);
  await using a1 = await Peer.connect(s.port);
  await waitFor(() => s.server.connections === 1, "a1");
  await using a2 = await Peer.connect(s.port);
  await waitFor(() => s.server.connections === 2, "a2");
  await using b1 = await Peer.connect(s.port, { from: "127.0.0.2" });
  await waitFor(() => s.server.connections === 3, "b1");
  // A newcomer from 127.0.0.2: 127.0.0.1 holds the most, its oldest (a1) goes.
  await using b2 = await Peer.connect(s.port, { from: "127.0.0.2" });
  await b2.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assertEquals((await b2.response()).status, 200);
  assertEquals(seen, "127.0.0.2");
  await a1.closed("a1 to be evicted");
  assertEquals(s.events, [{ kind: "evicted" }]);
  for (const p of [a2, b1]) {
    assertOk(!p.eof);
    await p.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assertEquals((await p.response()).status, 200);
  }
  assertEquals(s.server.connections, 3);
});

Deno.test("server: trustConnection() protects a connection from eviction", async () => {
  await using s = startServer((req) => {
    if (new URL(req.url).pathname === "/login") trustConnection(req);
    return ok();
  }, { limits: { maxConnections: 2 } });
  await using t = await Peer.connect(s.port);
  await t.write("GET /login HTTP/1.1\r\nHost: x\r\n\r\n");
  assertEquals((await t.response()).status, 200);
  await using u = await Peer.connect(s.port);
  await waitFor(() => s.server.connections === 2, "u admitted");
  // t is older, but trusted: u goes.
  await using n = await Peer.connect(s.port);
  await n.write("GET /login HTTP/1.1\r\nHost: x\r\n\r\n");
  assertEquals((await n.response()).status, 200);
  await u.closed("u to be evicted");
  assertOk(!t.eof);
  // Both held ones trusted now: a newcomer is refused ("total"), nobody evicted.
  await using v = await Peer.connect(s.port);
  await v.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assertEquals((await v.response()).status, 503);
  await v.closed();
  assertEquals(s.events, [{ kind: "evicted" }, { kind: "refused", reason: "total" }]);
  await t.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assertEquals((await t.response()).status, 200, "t kept");
});

Deno.test("server: whenFull wait: at the cap with nothing to evict a newcomer waits, then is served", async () => {
  await using s = trustingServer(1, 60_000);
  await using held = await servedPeer(s.port);
  // The kernel completes the connect; the server does not accept it while it is full.
  await using late = await Peer.connect(s.port);
  await late.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  await settle(300);
  assertEquals([late.buffered.length, s.server.connections, s.events], [0, 1, []], "waiting");
  held.close();
  const r = await late.response(3000);
  assertEquals(r.status, 200, "served once the held one closed, never refused");
  assertEquals(s.events, []);
});

Deno.test("server: whenFull wait: a keep-alive connection idle for evictAfterMs is closed for a waiting newcomer", async () => {
  await using s = trustingServer(1, 300);
  await using idle = await servedPeer(s.port);
  const t0 = Date.now();
  await using late = await Peer.connect(s.port);
  await late.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const r = await late.response(3000);
  assertEquals(r.status, 200, "served, never refused");
  assertOk(Date.now() - t0 >= 250, "not before the idle one had been idle for evictAfterMs");
  await idle.closed("the idle keep-alive connection closed to make room");
});

Deno.test("server: whenFull wait: an untrusted connection makes room before a trusted idle one", async () => {
  await using s = trustingServer(2, 300);
  await using t = await servedPeer(s.port);
  await settle(200); // t idle for a while: it reaches evictAfterMs before u does
  await using u = await Peer.connect(s.port);
  await u.write("GET / HTTP/1.1\r\nHost:"); // half a head: untrusted, not idle
  await waitFor(() => s.server.connections === 2, "u admitted");
  await using late = await Peer.connect(s.port);
  await late.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assertEquals((await late.response(3000)).status, 200, "served, never refused");
  await u.closed("the untrusted half-head evicted for the newcomer");
  assertOk(!t.eof, "the trusted idle connection kept, though idle longer");
  await t.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assertEquals((await t.response()).status, 200, "and it still serves");
});

Deno.test("server: evictAfterMs: an untrusted connection younger than it is not evicted", async () => {
  await using s = startServer(ok, { limits: { maxConnections: 1, evictAfterMs: 400 } });
  await using young = await Peer.connect(s.port);
  await waitFor(() => s.server.connections === 1, "young admitted");
  await using newcomer = await Peer.connect(s.port);
  await newcomer.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assertEquals((await newcomer.response(2000)).status, 503, "nothing old enough to evict");
  assertOk(!young.eof, "the young one kept");
  await settle(450);
  await using third = await Peer.connect(s.port);
  await third.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assertEquals((await third.response(2000)).status, 200);
  await young.closed("the now old one evicted for the third");
});

Deno.test("server: fdBudget clamps maxConnections; over it the oldest idle one goes", async () => {
  await using s = startServer(ok, { fdBudget: 2 });
  assertEquals(s.server.limits.maxConnections, 2);
  await using p1 = await Peer.connect(s.port);
  await waitFor(() => s.server.connections === 1, "p1");
  await using p2 = await Peer.connect(s.port);
  await waitFor(() => s.server.connections === 2, "p2");
  await using p3 = await Peer.connect(s.port);
  await p3.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assertEquals((await p3.response()).status, 200);
  await p1.closed("p1 to be evicted");
  assertOk(!p2.eof);
  assertEquals(s.server.connections, 2);
});

Deno.test("server: the default limits come from the descriptor budget", async () => {
  await using s = startServer(ok);
  const l = s.server.limits;
  assertOk(l.maxConnections >= 1 && l.maxConnections < (1 << 20), `${l.maxConnections}`);
  assertEquals(
    [l.maxConnectionsPerSource, l.maxHeadBytes, l.maxBodyBytes],
    [256, 16 * 1024, 1 << 20],
  );
});
