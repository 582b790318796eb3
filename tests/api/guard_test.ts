import { assertEquals, assertOk } from "../_assert.ts";
import { SEND_BODY_LIMIT } from "../../api/mod.ts";
import { secure, SECURITY_HEADERS } from "../../api/guard.ts";
import { rawRequest, startApi } from "./_helpers.ts";

const JSON_TYPE = { "content-type": "application/json" };

async function errorOf(res: Response): Promise<{ code: string; http: number; message: string }> {
  const body = await res.json();
  assertEquals(Object.keys(body), ["error"]);
  assertEquals(Object.keys(body.error).sort(), ["code", "http", "message"]);
  assertEquals(body.error.http, res.status);
  return body.error;
}

Deno.test("no token and a wrong token get the same 401, and nothing reaches the service", async () => {
  await using api = startApi();
  const none = await fetch(`${api.url}/status`);
  assertEquals(none.status, 401);
  const a = await errorOf(none);
  const wrong = await api.fetch("/status", { headers: { authorization: "Bearer nope" } });
  assertEquals(wrong.status, 401);
  assertEquals(await errorOf(wrong), a);
  const other = await api.fetch("/status", { headers: { authorization: `Basic ${api.token}` } });
  assertEquals(other.status, 401);
  await other.body?.cancel();
  const prefix = await api.fetch("/status", {
    headers: { authorization: `Bearer ${api.token.slice(0, -1)}` },
  });
  assertEquals(prefix.status, 401);
  await prefix.body?.cancel();
  assertEquals(a.code, "unauthorized");
  assertEquals(api.fake.calls, []);
  const ok = await api.fetch("/status");
  assertEquals(ok.status, 200);
  await ok.body?.cancel();
  assertEquals(api.fake.calls, ["status"]);
});

Deno.test("GET /health is the only route without a token", async () => {
  await using api = startApi();
  const res = await fetch(`${api.url}/health`);
  assertEquals([res.status, await res.json()], [200, { ok: true }]);
  const head = await fetch(`${api.url}/health`, { method: "HEAD" });
  assertEquals([head.status, await head.text()], [200, ""]);
  for (const path of ["/openapi.json", "/me", "/contacts", "/events", "/messages", "/nowhere"]) {
    const r = await fetch(api.url + path);
    assertEquals(r.status, 401, path);
    await r.body?.cancel();
  }
  const post = await fetch(`${api.url}/health`, { method: "POST" });
  assertEquals(post.status, 401);
  await post.body?.cancel();
  assertEquals(api.fake.calls, []);
});

Deno.test("an Origin or a Referer from elsewhere gets 403 even with the token", async () => {
  await using api = startApi();
  const cases: Record<string, string>[] = [
    { origin: "https://evil.example" },
    { origin: "null" },
    { origin: api.url }, // even its own origin: the allowlist is empty
    { referer: "https://evil.example/page" },
    { referer: "not a url" },
  ];
  for (const headers of cases) {
    const res = await api.fetch("/send?to=alice", { method: "POST", body: "hi", headers });
    assertEquals(res.status, 403, JSON.stringify(headers));
    assertEquals((await errorOf(res)).code, "forbidden_origin");
  }
  assertEquals(api.fake.calls, []);
});

Deno.test("an allowlisted origin passes", async () => {
  await using api = startApi({ originAllowlist: ["http://localhost:3000"] });
  const res = await api.fetch("/status", {
    headers: { origin: "http://localhost:3000", referer: "http://localhost:3000/app" },
  });
  assertEquals(res.status, 200);
  await res.body?.cancel();
  assertEquals(res.headers.get("access-control-allow-origin"), null);
});

Deno.test("a foreign Host gets 421 (DNS rebinding), loopback names with the port pass", async () => {
  await using api = startApi();
  const port = api.server.port;
  const auth = `Authorization: Bearer ${api.token}`;
  for (const host of ["evil.example:7777", `evil.example:${port}`, "127.0.0.1:1", "localhost"]) {
    const r = await rawRequest(
      port,
      `GET /status HTTP/1.1\nHost: ${host}\n${auth}\nConnection: close\n`,
    );
    assertEquals(r.status, 421, host);
    assertOk(r.body.includes('"misdirected_host"'), r.body);
    assertEquals(r.headers.get("x-content-type-options"), "nosniff");
  }
  const noHost = await rawRequest(port, `GET /status HTTP/1.0\n${auth}\n`);
  assertEquals(noHost.status, 421);
  assertEquals(api.fake.calls, []);
  for (
    const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `LocalHost:${port}`]
  ) {
    const r = await rawRequest(
      port,
      `GET /status HTTP/1.1\nHost: ${host}\n${auth}\nConnection: close\n`,
    );
    assertEquals(r.status, 200, host);
  }
});

Deno.test("oversize bodies get 413 by bytes read, whatever Content-Length says", async () => {
  await using api = startApi();
  const big = "x".repeat(SEND_BODY_LIMIT + 1);
  const r1 = await api.fetch("/send?to=alice", { method: "POST", body: big });
  assertEquals(r1.status, 413);
  const e1 = await errorOf(r1);
  assertEquals(e1.code, "body_too_large");
  // It names the limit a sender acts on: the text's, not only the body's.
  assertOk(e1.message.includes("text is limited to 60000 bytes"), e1.message);
  // Other routes have a smaller limit.
  const r2 = await api.fetch("/contacts", {
    method: "POST",
    headers: JSON_TYPE,
    body: JSON.stringify({ id: "x", name: "y".repeat(9000) }),
  });
  assertEquals(r2.status, 413);
  await r2.body?.cancel();
  const port = api.server.port;
  const head = `POST /send?to=alice HTTP/1.1\nHost: 127.0.0.1:${port}\n` +
    `Authorization: Bearer ${api.token}\nContent-Type: text/plain\nConnection: close\n`;
  // Chunked, no Content-Length: counted as it arrives.
  const chunk = "y".repeat(4096);
  const chunks = Array.from({ length: SEND_BODY_LIMIT / 4096 + 1 }, () => `1000\r\n${chunk}\r\n`);
  const r3 = await rawRequest(
    port,
    `${head}Transfer-Encoding: chunked\n`,
    chunks.join("") + "0\r\n\r\n",
  );
  assertEquals(r3.status, 413);
  assertOk(r3.body.includes('"body_too_large"'));
  // A Content-Length over the limit is refused before any body byte is read.
  const r4 = await rawRequest(port, `${head}Content-Length: 10000000\n`);
  assertEquals(r4.status, 413);
  // A body at the limit is fine (the fake says the text is too long, which is the service's say).
  const r5 = await api.fetch("/send?to=alice", {
    method: "POST",
    body: "z".repeat(SEND_BODY_LIMIT),
  });
  assertEquals(r5.status, 413);
  assertEquals((await errorOf(r5)).code, "text_too_long");
  assertEquals(api.fake.calls, ["send"]);
});

Deno.test("security headers on every response, errors included; no CORS header ever", async () => {
  await using api = startApi();
  api.fake.failNext = new Error("boom");
  const responses = [
    await fetch(`${api.url}/health`),
    await fetch(`${api.url}/status`),
    await api.fetch("/status"), // fails inside the service: 500
    await api.fetch("/status"),
    await api.fetch("/nowhere"),
    await api.fetch("/send", { method: "DELETE" }),
    await api.fetch("/send", { method: "POST", headers: JSON_TYPE, body: "{" }),
    await api.fetch("/send", { method: "POST", headers: { origin: "https://evil.example" } }),
    await api.fetch("/contacts/alice", { method: "DELETE" }),
    await api.fetch("/send", { method: "OPTIONS" }),
    await api.fetch("/send", {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    }),
    await api.fetch("/openapi.json"),
  ];
  assertEquals(
    responses.map((r) => r.status),
    [200, 401, 500, 200, 404, 405, 400, 403, 204, 405, 403, 200],
  );
  for (const r of responses) {
    await r.body?.cancel();
    assertEquals(r.headers.get("x-content-type-options"), "nosniff", r.url);
    assertEquals(r.headers.get("cache-control"), "no-store", r.url);
    for (const k of r.headers.keys()) assertOk(!k.startsWith("access-control-"), k);
  }
  assertEquals(api.internal.length, 1);
});

Deno.test("a refused request never reaches the service", async () => {
  await using api = startApi();
  const port = api.server.port;
  const refused = [
    await fetch(`${api.url}/send?to=alice`, { method: "POST", body: "hi" }),
    await api.fetch("/send?to=alice", {
      method: "POST",
      body: "hi",
      headers: { origin: "http://x" },
    }),
    await api.fetch("/send?to=alice", { method: "POST", body: "x".repeat(SEND_BODY_LIMIT + 1) }),
    await api.fetch("/contacts", { method: "POST", headers: JSON_TYPE, body: "{nope" }),
    await api.fetch("/send", {
      method: "POST",
      headers: { "content-type": "image/png" },
      body: "x",
    }),
    await api.fetch("/messages?limit=0"),
    await api.fetch("/events?since=-1"),
    await fetch(`${api.url}/events`),
  ];
  for (const r of refused) {
    assertOk(r.status >= 400, `${r.url} ${r.status}`);
    await r.body?.cancel();
  }
  const raw = await rawRequest(
    port,
    `POST /send?to=alice HTTP/1.1\nHost: evil.example\nAuthorization: Bearer ${api.token}\n` +
      "Content-Length: 2\nConnection: close\n",
    "hi",
  );
  assertEquals(raw.status, 421);
  assertEquals(api.fake.calls, []);
});

Deno.test("secure() sets the security headers and strips every CORS header a response carries", () => {
  const cors = {
    "access-control-allow-origin": "*",
    "access-control-allow-credentials": "true",
    "access-control-allow-methods": "POST",
    "access-control-allow-headers": "authorization",
    "access-control-expose-headers": "x",
    "access-control-max-age": "600",
    "access-control-allow-private-network": "true",
  };
  const res = secure(new Response("x", { headers: { ...cors, "x-other": "kept" } }));
  for (const k of res.headers.keys()) assertOk(!k.startsWith("access-control-"), k);
  assertEquals(res.headers.get("x-other"), "kept");
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) assertEquals(res.headers.get(k), v);
});
