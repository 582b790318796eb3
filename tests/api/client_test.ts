import { assertEquals, assertOk, assertRejects } from "../_assert.ts";
import { ApiClient, ApiError, type ClientErrorCode } from "../../api/mod.ts";
import type { JournalEvent } from "../../daemon/service.ts";
import { BOB_ID, FAKE_FINGERPRINT } from "./_fake_service.ts";
import { startApi } from "./_helpers.ts";

const isApiError = (code: ClientErrorCode, http: number) => (e: Error) =>
  e instanceof ApiError && e.code === code && e.http === http;

Deno.test("ApiClient: one method per route, against the served app", async () => {
  await using api = startApi();
  const c = new ApiClient({ baseUrl: api.url + "/", token: api.token });
  assertEquals(await c.health(), { ok: true });
  const sent = await c.send({ to: "alice", text: "hi", id: "k1" });
  assertEquals(sent.status, "queued");
  assertEquals(api.fake.sends, [{ to: "alice", text: "hi", idempotencyKey: "k1" }]);
  assertEquals((await c.message(sent.id)).text, "hi");
  assertEquals((await c.messages({ with: "alice", limit: 5 })).map((m) => m.id), [sent.id]);
  assertEquals(api.fake.queries.at(-1), { with: "alice", limit: 5, order: "asc" });
  assertEquals((await c.status()).version, "0.1.0");
  assertEquals((await c.me()).fingerprint, FAKE_FINGERPRINT);
  assertEquals((await c.rotate()).retired.length, 1);
  assertEquals((await c.addContact({ id: BOB_ID, name: "bob.smith" })).name, "bob.smith");
  assertEquals((await c.contacts()).length, 2);
  assertEquals((await c.verifyContact("bob.smith")).verified, true);
  assertEquals((await c.verifyContact("bob.smith", false)).verified, false);
  await c.removeContact("bob.smith");
  assertEquals((await c.contacts()).length, 1);
  assertOk((await c.openapi()).paths);
});

Deno.test("ApiClient: error answers become ApiError {code, http, message}", async () => {
  await using api = startApi();
  const c = new ApiClient({ baseUrl: api.url, token: api.token });
  const e = await assertRejects(
    () => c.send({ to: "carol", text: "hi" }),
    isApiError("recipient_unknown", 404),
  );
  assertEquals(e.message, 'No contact or id "carol"');
  await assertRejects(() => c.message("nope"), isApiError("not_found", 404));
  await assertRejects(() => c.messages({ limit: 0 }), isApiError("bad_request", 400));
  const wrong = new ApiClient({ baseUrl: api.url, token: "wrong" });
  await assertRejects(() => wrong.status(), isApiError("unauthorized", 401));
  assertEquals(await wrong.health(), { ok: true });
});

Deno.test("ApiClient: daemon_unreachable when nothing listens", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const c = new ApiClient({ baseUrl: `http://127.0.0.1:${port}`, token: "t" });
  const e = await assertRejects(() => c.status(), isApiError("daemon_unreachable", 0));
  assertOk(e.message.includes(`127.0.0.1:${port}`), e.message);
  await assertRejects(async () => {
    for await (const _ of c.events()) break;
  }, isApiError("daemon_unreachable", 0));
});

Deno.test("ApiClient.events: resumes after `since`, then live; break and abort clean up", async () => {
  await using api = startApi();
  const c = new ApiClient({ baseUrl: api.url, token: api.token });
  for (let i = 1; i <= 3; i++) api.fake.emit("message", { n: i });
  const got: JournalEvent[] = [];
  for await (const e of c.events({ since: 1 })) {
    got.push(e);
    if (e.id === 3) api.fake.emit("presence", { online: true });
    if (e.id === 4) break;
  }
  assertEquals(got, [
    { id: 2, type: "message", data: { n: 2 } },
    { id: 3, type: "message", data: { n: 3 } },
    { id: 4, type: "presence", data: { online: true } },
  ]);
  await api.fake.waitSubscribers(0);
  const ctl = new AbortController();
  const seen: number[] = [];
  const loop = (async () => {
    for await (const e of c.events({ signal: ctl.signal })) seen.push(e.id);
  })();
  await api.fake.waitSubscribers(1);
  ctl.abort();
  await loop; // ends quietly on abort
  await api.fake.waitSubscribers(0);
  assertEquals(seen, []);
});

Deno.test("ApiClient.events: the iteration ends when the daemon shuts down", async () => {
  const api = startApi();
  const c = new ApiClient({ baseUrl: api.url, token: api.token });
  const seen: number[] = [];
  const loop = (async () => {
    for await (const e of c.events({ since: 0 })) seen.push(e.id);
  })();
  await api.fake.waitSubscribers(1);
  api.fake.emit("relay", {});
  await api.server.shutdown();
  await loop;
  assertEquals(seen, [1]); // what was queued before the shutdown still arrives
});
