import { assertEquals, assertOk } from "../_assert.ts";
import { connectClient, startRelayProcess, waitFor } from "../harness.ts";

Deno.test("a reader that stops reading is disconnected (slow_reader); memory stays bounded", async () => {
  const relay = await startRelayProcess({
    args: [
      "--max-queue-bytes",
      String(1024 * 1024),
      "--frames-per-second",
      "100000",
      "--frame-burst",
      "100000",
    ],
  });
  const a = await connectClient(relay.address);
  const b = await connectClient(relay.address);
  try {
    // B stops reading from its socket: the relay's queue towards B can only grow.
    b.pauseReading();
    const env = new Uint8Array(60_000);
    let offline = 0;
    let sent = 0;
    // Bounded: at most 2,000 envelopes (120 MB) or until the relay gives up on B.
    while (sent < 2000 && offline === 0) {
      const batch = Array.from({ length: 20 }, () => a.send(b.id, env));
      sent += batch.length;
      for (const r of await Promise.all(batch)) if (r.status === "offline") offline++;
    }
    console.log(`slow reader: the relay gave up after ${sent} envelopes`);
    assertOk(offline > 0, `the relay stopped queuing for B after ${sent} envelopes`);
    assertOk(sent * env.length < 100 * 1024 * 1024, "it gave up long before 100 MB");
    const metrics = await (await fetch(`${relay.http}/metrics`)).text();
    assertOk(/^schied_limit_hits_total [1-9]/m.test(metrics), "a limit hit was counted");
    await waitFor(
      async () =>
        /^schied_sessions_online 1$/m.test(await (await fetch(`${relay.http}/metrics`)).text()),
      "B's session to be closed",
    );
  } finally {
    await a.close();
    await b.terminate();
    assertEquals(await relay.stop(), 0);
  }
});
