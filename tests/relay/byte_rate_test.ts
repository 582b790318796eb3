import { assertEquals, assertOk } from "../_assert.ts";
import { connectClient, startRelayProcess } from "../harness.ts";

Deno.test("a session over --bytes-per-second is closed with rate_limited before its bytes are decrypted", async () => {
  const relay = await startRelayProcess({ args: ["--bytes-per-second", "100000"] });
  const a = await connectClient(relay.address);
  const b = await connectClient(relay.address);
  try {
    const env = new Uint8Array(60_000);
    // 2 × 100,000 bytes of burst: the fifth 60 kB record is over.
    const results = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      await new Promise((r) => setTimeout(r, i)); // separate records, not one coalesced one
      return a.send(b.id, env);
    }));
    const closed = await a.closed();
    assertEquals(closed.code, "rate_limited");
    assertOk(results.some((r) => r.status === "delivered"), "the first envelopes went through");
    assertOk(results.some((r) => r.status === "rejected"), "the rest did not");
    const m = await (await fetch(`${relay.metrics}/metrics`)).text();
    assertOk(/^schied_limit_hits_total [1-9]/m.test(m));
  } finally {
    await b.close();
    assertEquals(await relay.stop(), 0);
  }
});
