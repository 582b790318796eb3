/**
 * A session that reads slowly or not at all: envelopes for it are refused with `recipient_busy`
 * once its queue is full (the sender retries later), it keeps its link while it still reads, and
 * it is dropped only once it takes no bytes at all for --slow-reader-timeout-ms. The relay's
 * memory stays bounded throughout.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { connectClient, startRelayProcess, waitFor } from "../harness.ts";

import { rssOf } from "../harness.ts";

Deno.test("a reader that stops reading: envelopes for it are refused (recipient_busy), then it is dropped; memory stays bounded", async () => {
  const relay = await startRelayProcess({
    args: [
      "--max-queue-bytes",
      String(1024 * 1024),
      "--slow-reader-timeout-ms",
      "1500",
      "--frames-per-second",
      "100000",
      "--frame-burst",
      "100000",
    ],
  });
  const a = await connectClient(relay.address);
  const b = await connectClient(relay.address);
  try {
    const rss0 = await rssOf(relay.child.pid);
    // B stops reading from its socket: the relay's queue towards B can only grow.
    b.pauseReading();
    const env = new Uint8Array(60_000);
    let busy = 0, sent = 0, offline = 0;
    // Bounded: at most 2,000 envelopes (120 MB) or until the relay refuses to queue more.
    while (sent < 2000 && busy === 0) {
      const batch = Array.from({ length: 20 }, () => a.send(b.id, env));
      sent += batch.length;
      for (const r of await Promise.all(batch)) {
        if (r.status === "rejected" && r.code === "recipient_busy") busy++;
        if (r.status === "offline") offline++;
      }
    }
    console.log(`slow reader: the relay refused envelopes for B after ${sent}`);
    assertOk(busy > 0, `the relay stopped queuing for B after ${sent} envelopes`);
    assertEquals(offline, 0, "B was not disconnected for being full");
    assertOk(sent * env.length < 100 * 1024 * 1024, "it refused long before 100 MB");
    const rss1 = await rssOf(relay.child.pid);
    assertOk(rss1 - rss0 < 64 * 1024 * 1024, `relay RSS grew by ${(rss1 - rss0) >> 20} MiB`);
    const metrics = await (await fetch(`${relay.metrics}/metrics`)).text();
    assertOk(/^schied_envelopes_busy_total [1-9]/m.test(metrics), "busy refusals are counted");
    // B takes nothing at all: after the slow-reader timeout (counted while bytes are queued for
    // it) its session is dropped. A keeps offering an envelope now and then: once the relay's
    // queue has drained into the kernel's socket buffers (their size varies with the machine's
    // load and TCP autotuning) nothing would be queued, and no timeout would run.
    await waitFor(
      async () => {
        void a.send(b.id, env).catch(() => {});
        return /^schied_sessions_online 1$/m.test(
          await (await fetch(`${relay.metrics}/metrics`)).text(),
        );
      },
      "B's session to be dropped",
      15_000,
    );
    const after = await (await fetch(`${relay.metrics}/metrics`)).text();
    assertOk(/^schied_slow_readers_total 1$/m.test(after), "counted as a slow reader");
  } finally {
    await a.close();
    await b.terminate();
    assertEquals(await relay.stop(), 0);
  }
});
