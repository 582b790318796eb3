import { assertEquals, assertOk } from "../_assert.ts";
import { REPLAY_PAGE } from "../../api/sse.ts";
import { SseParser } from "../../api/mod.ts";
import { sseIds, startApi, StreamText } from "./_helpers.ts";

const count = (text: string, re: RegExp) => [...text.matchAll(re)].length;

Deno.test("SSE: a retry line, then events with id, event and one-line JSON data", async () => {
  await using api = startApi();
  const res = await api.fetch("/events");
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
  assertEquals(res.headers.get("cache-control"), "no-store");
  const s = new StreamText(res);
  await s.until((t) => t.includes("\n\n"));
  assertEquals(s.text, "retry: 3000\n\n");
  await api.fake.waitSubscribers(1);
  api.fake.emit("message", { from: "alice", text: "two\nlines" });
  api.fake.emit("presence", { id: "x", online: true });
  await s.until((t) => count(t, /^data: /gm) === 2);
  assertEquals(
    s.text,
    "retry: 3000\n\n" +
      'id: 1\nevent: message\ndata: {"from":"alice","text":"two\\nlines"}\n\n' +
      'id: 2\nevent: presence\ndata: {"id":"x","online":true}\n\n',
  );
  const parser = new SseParser();
  const msgs = parser.push(s.text);
  assertEquals(parser.retry, 3000);
  assertEquals(msgs.map((m) => [m.id, m.event, JSON.parse(m.data)]), [
    ["1", "message", { from: "alice", text: "two\nlines" }],
    ["2", "presence", { id: "x", online: true }],
  ]);
  await s.cancel();
  await api.fake.waitSubscribers(0);
});

Deno.test("SSE: without a resume point, only new events", async () => {
  await using api = startApi();
  api.fake.emit("relay", { state: "online" });
  const s = new StreamText(await api.fetch("/events"));
  await api.fake.waitSubscribers(1);
  api.fake.emit("relay", { state: "offline" });
  await s.until((t) => sseIds(t).length === 1);
  assertEquals(sseIds(s.text), [2]);
  await s.cancel();
});

for (const how of ["Last-Event-ID", "?since="]) {
  Deno.test(`SSE: resume with ${how} returns exactly the missed events, then live ones`, async () => {
    await using api = startApi();
    for (let i = 1; i <= 5; i++) api.fake.emit("message", { n: i });
    const res = how === "?since="
      ? await api.fetch("/events?since=2")
      : await api.fetch("/events?since=4", { headers: { "last-event-id": "2" } }); // header wins
    const s = new StreamText(res);
    await s.until((t) => sseIds(t).length === 3);
    assertEquals(sseIds(s.text), [3, 4, 5]);
    api.fake.emit("message", { n: 6 });
    api.fake.emit("message", { n: 7 });
    await s.until((t) => sseIds(t).length >= 5);
    assertEquals(sseIds(s.text), [3, 4, 5, 6, 7]);
    await s.cancel();
  });
}

Deno.test("SSE: events arriving during the replay are sent once, none lost", async () => {
  await using api = startApi();
  for (let i = 1; i <= 3; i++) api.fake.emit("message", { n: i });
  // First replay step: one event lands in the journal (and the subscription) mid-replay, one
  // reaches only the subscription (a journal that lags): the buffer must cover both.
  let calls = 0;
  api.fake.onEventsSince = () => {
    if (calls++ > 0) return;
    api.fake.emit("message", { n: 4 });
    api.fake.journalLag = 1;
    api.fake.emit("message", { n: 5 });
  };
  const s = new StreamText(await api.fetch("/events?since=1"));
  await s.until((t) => sseIds(t).length >= 4);
  api.fake.journalLag = 0;
  api.fake.emit("message", { n: 6 });
  await s.until((t) => sseIds(t).length >= 5);
  assertEquals(sseIds(s.text), [2, 3, 4, 5, 6]);
  await s.cancel();
});

Deno.test("SSE: a long replay goes page by page, in order, complete", async () => {
  await using api = startApi();
  const n = REPLAY_PAGE * 2 + 17;
  for (let i = 1; i <= n; i++) api.fake.emit("status", { i });
  const s = new StreamText(await api.fetch("/events?since=0"));
  await s.until((t) => sseIds(t).length >= n);
  assertEquals(sseIds(s.text), Array.from({ length: n }, (_, i) => i + 1));
  await s.cancel();
});

Deno.test("SSE: a resume point ahead of the journal does not hide new events", async () => {
  await using api = startApi();
  api.fake.emit("status", {});
  const s = new StreamText(await api.fetch("/events", { headers: { "last-event-id": "999" } }));
  await api.fake.waitSubscribers(1);
  api.fake.emit("status", {});
  await s.until((t) => sseIds(t).length === 1);
  assertEquals(sseIds(s.text), [2]);
  await s.cancel();
});

Deno.test("?format=jsonl streams the same events as NDJSON", async () => {
  await using api = startApi();
  api.fake.emit("message", { n: 1 });
  api.fake.emit("error", { code: "x" });
  const res = await api.fetch("/events?format=jsonl&since=0");
  assertEquals(res.headers.get("content-type"), "application/x-ndjson; charset=utf-8");
  const s = new StreamText(res);
  await s.until((t) => t.split("\n").filter((l) => l).length === 2);
  api.fake.emit("relay", { state: "online" });
  await s.until((t) => t.split("\n").filter((l) => l).length === 3);
  const lines = s.text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
  assertEquals(lines, [
    { id: 1, event: "message", data: { n: 1 } },
    { id: 2, event: "error", data: { code: "x" } },
    { id: 3, event: "relay", data: { state: "online" } },
  ]);
  assertOk(!s.text.includes("retry"));
  await s.cancel();
});

Deno.test("keepalives: an SSE comment, a blank NDJSON line", async () => {
  await using api = startApi({ keepaliveMs: 10 });
  const sse = new StreamText(await api.fetch("/events"));
  await sse.until((t) => count(t, /^: keepalive$/gm) >= 2);
  assertEquals(sse.text.slice(0, 30), "retry: 3000\n\n: keepalive\n\n: ke");
  await sse.cancel();
  const jsonl = new StreamText(await api.fetch("/events?format=jsonl"));
  await jsonl.until((t) => t.length >= 2);
  assertEquals(jsonl.text.slice(0, 2), "\n\n");
  await jsonl.cancel();
});

Deno.test("bad resume points and formats get 400 and no subscription", async () => {
  await using api = startApi();
  for (const [q, h] of [["?since=x", {}], ["?format=xml", {}], ["", { "last-event-id": "-3" }]]) {
    const res = await api.fetch(`/events${q}`, { headers: h as Record<string, string> });
    assertEquals(res.status, 400, String(q));
    assertEquals((await res.json()).error.code, "bad_request");
  }
  assertEquals(api.fake.calls, []);
});

Deno.test("the subscription ends when the client goes away (cancel, abort)", async () => {
  await using api = startApi();
  const a = new StreamText(await api.fetch("/events"));
  const ctl = new AbortController();
  const b = await api.fetch("/events?format=jsonl", { signal: ctl.signal });
  await api.fake.waitSubscribers(2);
  await a.cancel();
  await api.fake.waitSubscribers(1);
  ctl.abort();
  await b.body?.cancel().catch(() => {});
  await api.fake.waitSubscribers(0);
});

Deno.test("a service failure while opening a stream is a 500 and leaves no subscription", async () => {
  await using api = startApi();
  api.fake.lastEventId = () => {
    throw new Error("journal unreadable");
  };
  const res = await api.fetch("/events");
  assertEquals(res.status, 500);
  assertEquals((await res.json()).error.code, "internal");
  assertEquals([api.fake.subscribers, api.internal.length], [0, 1]);
});

Deno.test("HEAD /events answers the headers without subscribing", async () => {
  await using api = startApi();
  const res = await api.fetch("/events?since=0", { method: "HEAD" });
  assertEquals([res.status, await res.text()], [200, ""]);
  assertEquals(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
  assertEquals(api.fake.calls, []);
});

Deno.test("shutdown ends open streams, which then end cleanly", async () => {
  const api = startApi();
  const s = new StreamText(await api.fetch("/events"));
  await api.fake.waitSubscribers(1);
  await api.server.shutdown();
  assertEquals(await s.end(), "retry: 3000\n\n");
  assertEquals(api.fake.subscribers, 0);
});
