import { assertEquals, assertOk } from "../_assert.ts";
import { connectClient, startRelayProcess, waitFor } from "../harness.ts";

function envelopeOf(tag: number, i: number): Uint8Array {
  const e = new Uint8Array(64);
  const v = new DataView(e.buffer);
  v.setUint32(0, tag);
  v.setUint32(4, i);
  return e;
}

Deno.test("10,000 envelopes each way through a real relay: none lost, none duplicated, counted", async () => {
  const N = 10_000;
  const relay = await startRelayProcess({
    args: ["--frames-per-second", "50000", "--frame-burst", "50000"],
  });
  const seen = { a: new Map<number, number>(), b: new Map<number, number>() };
  const record = (m: Map<number, number>) => (_from: Uint8Array, env: Uint8Array) => {
    const i = new DataView(env.buffer, env.byteOffset).getUint32(4);
    m.set(i, (m.get(i) ?? 0) + 1);
  };
  const a = await connectClient(relay.address, { onDeliver: record(seen.a) });
  const b = await connectClient(relay.address, { onDeliver: record(seen.b) });
  try {
    assertOk(a.welcome.registered && b.welcome.registered, "both registered as new");
    const sends: Promise<{ status: string }>[] = [];
    for (let i = 0; i < N; i++) {
      sends.push(a.send(b.id, envelopeOf(1, i)));
      sends.push(b.send(a.id, envelopeOf(2, i)));
      if (i % 500 === 499) await sends[sends.length - 1];
    }
    const results = await Promise.all(sends);
    assertEquals(results.filter((r) => r.status === "delivered").length, 2 * N);
    await waitFor(() => seen.a.size === N && seen.b.size === N, "all envelopes to arrive");
    for (const m of [seen.a, seen.b]) {
      assertEquals([...m.values()].every((c) => c === 1), true, "no duplicates");
    }
    const metrics = await (await fetch(`${relay.metrics}/metrics`)).text();
    const delivered = Number(/^schied_envelopes_delivered_total (\d+)$/m.exec(metrics)?.[1]);
    assertEquals(delivered, 2 * N);
    assertOk(/^schied_sessions_online 2$/m.test(metrics));
  } finally {
    await a.close();
    await b.close();
    assertEquals(await relay.stop(), 0);
  }
});
