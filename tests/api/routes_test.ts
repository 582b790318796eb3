import { assertEquals, assertOk } from "../_assert.ts";
import { ALICE_ID, BOB_ID, FAKE_FINGERPRINT } from "./_fake_service.ts";
import { startApi } from "./_helpers.ts";

const JSON_TYPE = { "content-type": "application/json" };

async function body(res: Response): Promise<[number, unknown]> {
  return [res.status, res.status === 204 ? null : await res.json()];
}

Deno.test("POST /send with JSON answers 202 {id, status}", async () => {
  await using api = startApi();
  const res = await api.fetch("/send", {
    method: "POST",
    headers: JSON_TYPE,
    body: JSON.stringify({ to: "alice", text: "hi\n there" }),
  });
  assertEquals(res.status, 202);
  const r = await res.json();
  assertEquals(Object.keys(r).sort(), ["id", "status"]);
  assertEquals(r.status, "queued");
  assertEquals(api.fake.sends, [{ to: "alice", text: "hi\n there" }]);
});

Deno.test("POST /send with a raw body and ?to= (text/plain, curl -d, no type)", async () => {
  await using api = startApi();
  const send = (type: string | null, text: string, query = "?to=alice") =>
    api.fetch(`/send${query}`, {
      method: "POST",
      headers: type ? { "content-type": type } : {},
      body: text,
    });
  for (
    const [type, text] of [
      ["text/plain; charset=utf-8", "plain"],
      ["application/x-www-form-urlencoded", "a+b=c&d=%20e"], // curl -d: raw, NOT form-decoded
      [null, "no type"],
    ] as const
  ) {
    const res = await send(type, text);
    assertEquals(res.status, 202, String(type));
    await res.body?.cancel();
    assertEquals(api.fake.sends.at(-1), { to: "alice", text });
  }
  const nl = await send("text/plain", "one newline dropped\n");
  await nl.body?.cancel();
  assertEquals(api.fake.sends.at(-1)?.text, "one newline dropped");
  const utf = await send("text/plain", "grüße 👋", `?to=${ALICE_ID}`);
  await utf.body?.cancel();
  assertEquals(api.fake.sends.at(-1), { to: ALICE_ID, text: "grüße 👋" });
  assertEquals(await body(await send("text/plain", "hi", "")), [400, {
    error: { code: "bad_request", message: '"to" is required', http: 400 },
  }]);
});

Deno.test("the idempotency key is passed through (JSON id and ?id=)", async () => {
  await using api = startApi();
  const json = (text: string) =>
    api.fetch("/send", {
      method: "POST",
      headers: JSON_TYPE,
      body: JSON.stringify({ to: "alice", text, id: "key-1" }),
    });
  const [s1, r1] = await body(await json("hello"));
  const [s2, r2] = await body(await json("hello"));
  assertEquals([s1, s2], [202, 202]);
  assertEquals(r1, r2, "the same message twice");
  assertEquals(api.fake.sends.map((s) => s.idempotencyKey), ["key-1", "key-1"]);
  const [s3, r3] = await body(await json("other"));
  assertEquals(s3, 409);
  assertEquals((r3 as { error: { code: string } }).error.code, "idempotency_conflict");
  const raw = await api.fetch("/send?to=alice&id=key-2", { method: "POST", body: "x" });
  await raw.body?.cancel();
  assertEquals(api.fake.sends.at(-1), { to: "alice", text: "x", idempotencyKey: "key-2" });
  const bad = await api.fetch("/send?to=alice&id=has%20space", { method: "POST", body: "x" });
  assertEquals(bad.status, 400);
  await bad.body?.cancel();
});

Deno.test("malformed or wrong bodies get 400/415 in the error shape", async () => {
  await using api = startApi();
  const post = (path: string, b: string, headers: HeadersInit = JSON_TYPE) =>
    api.fetch(path, { method: "POST", headers, body: b });
  const [status, err] = await body(await post("/send", '{"to": "alice", "text": '));
  assertEquals(status, 400);
  const e = (err as { error: { code: string; http: number; message: string } }).error;
  assertEquals([e.code, e.http, typeof e.message], ["invalid_json", 400, "string"]);
  const codes = async (res: Response) => {
    const [s, b] = await body(res);
    return [s, (b as { error: { code: string } }).error.code];
  };
  assertEquals(await codes(await post("/contacts", "[1]")), [400, "bad_request"]);
  assertEquals(await codes(await post("/send", '{"to": 1, "text": "x"}')), [400, "bad_request"]);
  assertEquals(await codes(await post("/send", '{"to": "alice", "text": " "}')), [
    400,
    "text_empty",
  ]);
  assertEquals(await codes(await post("/send?to=alice", "", {})), [400, "text_empty"]);
  assertEquals(await codes(await post("/send", "\xff", { "content-type": "image/png" })), [
    415,
    "unsupported_media_type",
  ]);
  assertEquals(await codes(await post("/contacts", "id=x", { "content-type": "text/plain" })), [
    415,
    "unsupported_media_type",
  ]);
  const badUtf8 = await api.fetch("/send?to=alice", {
    method: "POST",
    body: new Uint8Array([0xff, 0xfe]),
  });
  assertEquals(await codes(badUtf8), [400, "bad_request"]);
  assertEquals(await codes(await post("/send", '{"to": "carol", "text": "x"}')), [
    404,
    "recipient_unknown",
  ]);
});

Deno.test("GET /messages validates since and limit and passes them on", async () => {
  await using api = startApi();
  for (
    const q of [
      "limit=0",
      "limit=1001",
      "limit=abc",
      "limit=1.5",
      "since=-1",
      "since=1e3",
      "order=up",
      "since_ts=-5",
    ]
  ) {
    const res = await api.fetch(`/messages?${q}`);
    assertEquals(res.status, 400, q);
    assertEquals((await res.json()).error.code, "bad_request");
  }
  assertEquals(api.fake.calls, []);
  assertEquals(await body(await api.fetch("/messages")), [200, { messages: [] }]);
  const r = await api.fetch("/messages?with=alice&since=5&limit=1000");
  await r.body?.cancel();
  const d = await api.fetch("/messages?order=desc&since_ts=1700000000000&limit=3");
  await d.body?.cancel();
  assertEquals(api.fake.queries, [
    { limit: 100, order: "asc" },
    { with: "alice", since: 5, limit: 1000, order: "asc" },
    { sinceTs: 1700000000000, limit: 3, order: "desc" },
  ]);
});

Deno.test("GET /messages/{id}, /status, /me, POST /me/rotate", async () => {
  await using api = startApi();
  const sent = await (await api.fetch("/send?to=alice", { method: "POST", body: "yo" })).json();
  const [s, m] = await body(await api.fetch(`/messages/${sent.id}`));
  assertEquals([s, (m as { text: string }).text], [200, "yo"]);
  const [s404, e404] = await body(await api.fetch("/messages/nope"));
  assertEquals([s404, (e404 as { error: { code: string } }).error.code], [404, "not_found"]);
  const [ss, st] = await body(await api.fetch("/status"));
  assertEquals([ss, (st as { version: string }).version], [200, "0.1.0"]);
  const [sm, me] = await body(await api.fetch("/me"));
  // A fingerprint, not a "safety number": that name belongs to the per-pair number alone.
  assertEquals([sm, (me as { fingerprint: string }).fingerprint], [200, FAKE_FINGERPRINT]);
  assertOk(!("safety_number" in (me as object)), "/me has no safety_number");
  const [sr, rot] = await body(await api.fetch("/me/rotate", { method: "POST" }));
  assertEquals([sr, (rot as { id: string }).id], [200, BOB_ID]);
  const get = await api.fetch("/me/rotate");
  assertEquals([get.status, get.headers.get("allow")], [405, "POST"]);
  await get.body?.cancel();
});

Deno.test("contacts: list, add, refuse bad ids and names, verify, remove", async () => {
  await using api = startApi();
  const add = (o: unknown) =>
    api.fetch("/contacts", { method: "POST", headers: JSON_TYPE, body: JSON.stringify(o) });
  const [s1, c1] = await body(await add({ id: BOB_ID, name: "bob" }));
  assertEquals([s1, (c1 as { name: string }).name], [201, "bob"]);
  const codes = async (res: Response) => {
    const [s, b] = await body(res);
    return [s, (b as { error: { code: string } }).error.code];
  };
  assertEquals(await codes(await add({ id: BOB_ID })), [409, "contact_exists"]);
  assertEquals(await codes(await add({ id: "not-an-id" })), [400, "bad_request"]);
  assertEquals(await codes(await add({ id: ALICE_ID.replace("0b", "0c"), name: BOB_ID })), [
    400,
    "bad_request",
  ]);
  assertEquals(await codes(await add({ id: ALICE_ID.replace("0b", "0c"), name: "x\ny" })), [
    400,
    "bad_request",
  ]);
  const [sl, list] = await body(await api.fetch("/contacts"));
  assertEquals([sl, (list as { contacts: unknown[] }).contacts.length], [200, 2]);
  const verify = (who: string, b?: string) =>
    api.fetch(`/contacts/${encodeURIComponent(who)}/verify`, {
      method: "POST",
      ...(b === undefined ? {} : { headers: JSON_TYPE, body: b }),
    });
  const [sv, v] = await body(await verify("bob"));
  assertEquals([sv, (v as { verified: boolean }).verified], [200, true]);
  const [sf, f] = await body(await verify("bob", '{"verified": false}'));
  assertEquals([sf, (f as { verified: boolean }).verified], [200, false]);
  assertEquals(await codes(await verify("bob", '{"verified": "yes"}')), [400, "bad_request"]);
  assertEquals(await codes(await verify("carol")), [404, "recipient_unknown"]);
  const del = await api.fetch("/contacts/bob", { method: "DELETE" });
  assertEquals(await body(del), [204, null]);
  assertEquals(await codes(await api.fetch("/contacts/bob", { method: "DELETE" })), [
    404,
    "recipient_unknown",
  ]);
});

Deno.test("unknown route 404 and wrong method 405, both in the error shape", async () => {
  await using api = startApi();
  assertEquals(await body(await api.fetch("/nowhere")), [404, {
    error: { code: "not_found", message: "No such route", http: 404 },
  }]);
  const res = await api.fetch("/contacts", { method: "PUT" });
  assertEquals(res.headers.get("allow"), "GET, POST, HEAD");
  const [s, e] = await body(res);
  assertEquals([s, (e as { error: { code: string } }).error.code], [405, "method_not_allowed"]);
  const sub = await api.fetch(`/contacts/${ALICE_ID}`, { method: "GET" });
  assertEquals([sub.status, sub.headers.get("allow")], [405, "DELETE"]);
  await sub.body?.cancel();
  assertEquals(api.fake.calls, []);
});

Deno.test("an unexpected service error is a 500 internal that leaks nothing", async () => {
  await using api = startApi();
  api.fake.failNext = new Error("secret detail /home/me/keys");
  const [s, e] = await body(await api.fetch("/contacts"));
  assertEquals(s, 500);
  assertEquals(e, { error: { code: "internal", message: "Internal error", http: 500 } });
  assertEquals(api.internal.length, 1);
  assertOk(String(api.internal[0]).includes("secret detail"));
});
