/**
 * Sends past MAX_SENDS_IN_FLIGHT are refused at once as `busy` with a short Retry-After, the
 * admitted ones are all accepted and delivered, and a send after the burst is admitted again.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { errorResponse } from "../../api/guard.ts";
import { MAX_SENDS_IN_FLIGHT } from "../../daemon/_engine_send.ts";
import { BUSY_RETRY_AFTER_S, OVERLOAD_RETRY_AFTER_S, ServiceError } from "../../daemon/service.ts";
import { BACKLOG_WAIT_MS, MAX_BACKLOG } from "../../daemon/_backlog.ts";
import { kindOf, MSG, startWorld, waitDelivered } from "../e2e_attacks/_world.ts";
import { startApi } from "../api/_helpers.ts";
import { waitFor } from "../harness.ts";

Deno.test("send admission: a burst past MAX_SENDS_IN_FLIGHT is refused as busy at once; the admitted ones are delivered", async () => {
  const w = await startWorld(2);
  try {
    const [a, b] = w.peers as [typeof w.peers[0], typeof w.peers[0]];
    const burst = MAX_SENDS_IN_FLIGHT + 72;
    // All called in one turn: each send counts itself in flight before its first await.
    const settled = await Promise.allSettled(
      Array.from({ length: burst }, (_, i) => a.d.engine.send({ to: b.id, text: `m${i}` })),
    );
    const ok = settled.filter((s) => s.status === "fulfilled");
    const refused = settled.flatMap((s) => s.status === "rejected" ? [s.reason] : []);
    assertEquals(ok.length, MAX_SENDS_IN_FLIGHT);
    assertEquals(refused.length, burst - MAX_SENDS_IN_FLIGHT);
    for (const e of refused) {
      assertOk(e instanceof ServiceError && e.code === "busy", String(e));
      assertEquals(e.retryAfterS, OVERLOAD_RETRY_AFTER_S);
      assertOk(/at capacity \(128 sends in progress\)/.test(e.message), e.message);
    }
    // The admitted ones are the first ones, in order, and all arrive.
    const ids = ok.map((s) => (s as PromiseFulfilledResult<{ id: string; text: string }>).value);
    assertEquals(ids.map((m) => m.text), ids.map((_, i) => `m${i}`));
    await waitDelivered(a, ids.map((m) => m.id));
    // Once they are answered the count is back to zero: the next send is admitted.
    const next = await a.d.engine.send({ to: b.id, text: "after" });
    await waitDelivered(a, [next.id]);
  } finally {
    await w.close();
  }
});

Deno.test("send admission: to an online peer that takes nothing, a send past MAX_BACKLOG waits, then is refused as busy; once the peer takes them, sends go again", async () => {
  const w = await startWorld(2);
  try {
    const [a, b] = w.peers as [typeof w.peers[0], typeof w.peers[0]];
    await waitFor(() => a.d.engine.contacts().find((c) => c.id === b.id)?.online, "b online for a");
    // The relay takes A's messages and says delivered, but B never gets them: none is acked.
    let swallow = true;
    w.hub.rule = (r) =>
      swallow && r.to === b.key && kindOf(r.envelope) === MSG ? "delivered" : undefined;
    const ids: string[] = [];
    for (let i = 0; i < MAX_BACKLOG; i += 100) {
      const n = Math.min(100, MAX_BACKLOG - i);
      const ms = await Promise.all(
        Array.from({ length: n }, (_, j) => a.d.engine.send({ to: b.id, text: `m${i + j}` })),
      );
      ids.push(...ms.map((m) => m.id));
    }
    const t0 = performance.now();
    const e = await a.d.engine.send({ to: b.id, text: "one too many" }).then(() => null, (e) => e);
    const waited = performance.now() - t0;
    assertOk(e instanceof ServiceError && e.code === "busy", String(e));
    assertEquals(e.retryAfterS, OVERLOAD_RETRY_AFTER_S);
    assertOk(e.message.startsWith(`${MAX_BACKLOG} messages to ${b.id} are waiting`), e.message);
    assertOk(waited >= BACKLOG_WAIT_MS - 50, `refused after ${waited} ms, not after the wait`);
    assertEquals(a.d.engine.messages({ with: b.id, limit: 2000 }).length, MAX_BACKLOG); // not stored
    // B starts taking them (A resends what was not acknowledged, RETRY_MS later): all arrive, and
    // the next send is taken at once.
    swallow = false;
    await waitDelivered(a, ids);
    const late = await a.d.engine.send({ to: b.id, text: "late" });
    await waitDelivered(a, [late.id]);
  } finally {
    await w.close();
  }
});

Deno.test("send admission: busy answers say how long to wait (1 s under load, 5 s for a full outbox)", async () => {
  const load = errorResponse(new ServiceError("busy", "at capacity", OVERLOAD_RETRY_AFTER_S));
  assertEquals([load.status, load.headers.get("retry-after")], [503, "1"]);
  const full = errorResponse(new ServiceError("busy", "The outbox is full"));
  assertEquals([full.status, full.headers.get("retry-after")], [503, String(BUSY_RETRY_AFTER_S)]);
  await load.body?.cancel();
  await full.body?.cancel();
});

Deno.test("send admission: POST /send at capacity is refused before its body is read or validated", async () => {
  await using api = startApi();
  let atCapacity = true;
  api.fake.checkSendCapacity = () => {
    if (atCapacity) throw new ServiceError("busy", "at capacity", OVERLOAD_RETRY_AFTER_S);
  };
  // Not even JSON: at capacity the answer is busy, not invalid_json, and nothing was sent.
  const refused = await api.fetch("/send", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{not json",
  });
  assertEquals([refused.status, refused.headers.get("retry-after")], [503, "1"]);
  assertEquals((await refused.json()).error.code, "busy");
  assertEquals(api.fake.sends.length, 0);
  atCapacity = false;
  const bad = await api.fetch("/send", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{not json",
  });
  assertEquals([bad.status, (await bad.json()).error.code], [400, "invalid_json"]);
});
