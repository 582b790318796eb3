/**
 * The daemon's link never queues without bound (issue: a fast sender's pacing queue grew to
 * 1.3 GiB): past LINK_QUEUE_LIMITS a SEND resolves at once as `rejected`/`busy`, unsent, and
 * once the queue drains SENDs go through again.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { LINK_QUEUE_LIMITS } from "../../daemon/link_client.ts";
import { connectClient, startRelayProcess, waitFor } from "../harness.ts";

Deno.test("link backpressure: past the frame limit SENDs are refused as busy, unsent", async () => {
  // 2,000 frames/s: the client paces at 1,800/s, so its queue fills within the burst below.
  const relay = await startRelayProcess({
    args: ["--quiet", "--frames-per-second", "2000", "--frame-burst", "2000"],
  });
  let received = 0;
  const a = await connectClient(relay.address);
  const b = await connectClient(relay.address, { onDeliver: () => received++ });
  try {
    const n = LINK_QUEUE_LIMITS.frames + 3000;
    const results = [];
    for (let i = 0; i < n; i++) results.push(a.send(b.id, Uint8Array.of(1)));
    assertOk(a.full, "the queue is full");
    assertEquals(a.room, 0);
    const busy = results.length - a.inFlight;
    // At most the bucket's burst (1,800, sent at once) plus the paced limit were taken.
    assertOk(a.inFlight <= 1800 + LINK_QUEUE_LIMITS.frames + 100, `queued: ${a.inFlight}`);
    assertOk(busy >= 500, `refused at once: ${busy}`);
    const settled = await Promise.all(results);
    const statuses = new Map<string, number>();
    for (const r of settled) {
      statuses.set(`${r.status}/${r.code}`, (statuses.get(`${r.status}/${r.code}`) ?? 0) + 1);
    }
    assertEquals(statuses.get("rejected/busy"), busy);
    assertEquals(statuses.get("delivered/null"), n - busy, "everything queued was delivered");
    await waitFor(() => received === n - busy, "the queued envelopes to arrive", 20_000);
    assertEquals(a.full, false, "drained");
    assertEquals(a.room, LINK_QUEUE_LIMITS.frames, "room again");
    assertEquals((await a.send(b.id, Uint8Array.of(2))).status, "delivered", "sends again");
  } finally {
    await a.close();
    await b.close();
    await relay.stop();
  }
});

Deno.test("link backpressure: the byte limit holds for large envelopes", async () => {
  const relay = await startRelayProcess({
    args: ["--quiet", "--frames-per-second", "20", "--frame-burst", "20"],
  });
  const a = await connectClient(relay.address);
  const b = await connectClient(relay.address);
  try {
    const env = new Uint8Array(65536);
    const results = [];
    for (let i = 0; i < 400; i++) results.push(a.send(b.id, env));
    const accepted = a.inFlight;
    const limit = Math.ceil(LINK_QUEUE_LIMITS.bytes / env.length);
    assertOk(accepted <= limit + 1, `at most ~8 MiB queued: ${accepted} envelopes`);
    assertOk(a.queuedBytes < LINK_QUEUE_LIMITS.bytes + 2 * env.length, "bytes bounded");
    assertEquals((await results[results.length - 1]!).code, "busy");
  } finally {
    await a.terminate();
    await b.close();
    await relay.stop();
  }
});
