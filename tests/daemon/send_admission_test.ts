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
import { startWorld, waitDelivered } from "../e2e_attacks/_world.ts";
import { startApi } from "../api/_helpers.ts";

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
