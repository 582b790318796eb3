/**
 * Link versions through a real relay (protocol README, section 2): a daemon of this release is
 * served version 2 (delivered SENDs answered by cumulative ACKs, the others by RESULTs), one that
 * offers only version 1 gets one RESULT per SEND, and the two talk to each other.
 *
 * @module
 */
import { assertEquals } from "../_assert.ts";
import { connectClient, startRelayProcess, waitFor } from "../harness.ts";

const nobody = new Uint8Array(16).fill(0x42); // an id with no session

Deno.test("link versions: v2 and v1 daemons on one relay, every SEND answered once", async () => {
  const relay = await startRelayProcess({ args: ["--quiet"] });
  const got = { v2: [] as number[], v1: [] as number[] };
  const on = (list: number[]) => (_from: Uint8Array, env: Uint8Array) => list.push(env[0]!);
  const v2 = await connectClient(relay.address, { onDeliver: on(got.v2) });
  const v1 = await connectClient(relay.address, { onDeliver: on(got.v1), versions: [1] });
  try {
    assertEquals([v2.version, v1.version], [2, 1]);
    // A lone SEND: nothing else goes to v2, so its ACK comes on its own within ACK_DELAY_MS.
    assertEquals(await v2.send(v1.id, Uint8Array.of(1)), { status: "delivered", code: null });
    // Delivered and not, interleaved: RESULTs for the misses, ACKs cover the rest.
    const r2 = await Promise.all([
      v2.send(v1.id, Uint8Array.of(2)),
      v2.send(nobody, Uint8Array.of(0)),
      v2.send(v1.id, Uint8Array.of(3)),
      v2.send(v1.id, new Uint8Array(65_536).fill(4)),
      v2.send(nobody, Uint8Array.of(0)),
    ]);
    assertEquals(r2.map((r) => r.status), [
      "delivered",
      "offline",
      "delivered",
      "delivered",
      "offline",
    ]);
    const r1 = await Promise.all([
      v1.send(v2.id, Uint8Array.of(5)),
      v1.send(nobody, Uint8Array.of(0)),
    ]);
    assertEquals(r1.map((r) => r.status), ["delivered", "offline"]);
    await waitFor(() => got.v1.length === 4 && got.v2.length === 1, "the envelopes to arrive");
    assertEquals([got.v1, got.v2], [[1, 2, 3, 4], [5]]);
    assertEquals([v2.inFlight, v1.inFlight], [0, 0], "nothing left unanswered");
    // Many SENDs in flight at once: one ACK answers many.
    const many = await Promise.all(
      Array.from(
        { length: 2000 },
        (_, i) => v2.send(i % 7 === 0 ? nobody : v1.id, Uint8Array.of(9)),
      ),
    );
    const want = Array.from({ length: 2000 }, (_, i) => (i % 7 === 0 ? "offline" : "delivered"));
    assertEquals(many.map((r) => r.status), want);
  } finally {
    await v2.close();
    await v1.close();
    await relay.stop();
  }
});
