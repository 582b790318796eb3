/**
 * Attack: a man in the middle replays, reorders or drops one encrypted transport record after
 * the handshake. Records use counter nonces taken in order, so any of these makes a record fail
 * to decrypt: the link must close, and no envelope may be delivered twice or out of order.
 */
import { assertEquals } from "../_assert.ts";
import { LinkClient } from "../../daemon/link_client.ts";
import { connectClient, waitFor } from "../harness.ts";
import { daemonKeys, linkEnd, settled, startTestRelay } from "./_helpers.ts";
import { startProxy } from "./_proxy.ts";

type Mode = "pass" | "replay" | "drop" | "reorder";

function env(i: number): Uint8Array {
  return Uint8Array.of(0xee, i);
}

/** Bob's deliveries, counted per envelope number. */
function counter() {
  const counts = new Map<number, number>();
  const order: number[] = [];
  return {
    counts,
    order,
    onDeliver: (_from: Uint8Array, e: Uint8Array) => {
      counts.set(e[1]!, (counts.get(e[1]!) ?? 0) + 1);
      order.push(e[1]!);
    },
  };
}

/** A proxy whose hook acts once on the first daemon→relay record after it is armed. */
function armedProxy(address: string) {
  const state: { mode: Mode; held?: Uint8Array } = { mode: "pass" };
  const proxy = startProxy(address, {
    up: (i, b, forward) => {
      if (i < 2 || state.mode === "pass") return forward(b); // messages 1 and 3 pass
      if (state.mode === "replay") {
        state.mode = "pass";
        forward(b);
        forward(b);
      } else if (state.mode === "drop") {
        state.mode = "pass";
      } else if (!state.held) {
        state.held = b;
      } else {
        state.mode = "pass";
        forward(b);
        forward(state.held);
      }
    },
  });
  return { proxy, state };
}

const DONE = { replay: "replayed", drop: "dropped", reorder: "reordered" } as const;

for (const mode of ["replay", "drop", "reorder"] as const) {
  Deno.test(`a ${DONE[mode]} daemon→relay record closes the link; nothing is delivered twice`, async () => {
    const r = await startTestRelay();
    const bob = counter();
    const bobLink = await connectClient(r.address, { onDeliver: bob.onDeliver });
    const { proxy, state } = armedProxy(r.address);
    const alice = await LinkClient.connect({ address: proxy.address, ...(await daemonKeys()) });
    const carol = await connectClient(r.address);
    try {
      // Control: the proxy passes records through untouched.
      assertEquals((await alice.send(bobLink.id, env(1))).status, "delivered");

      state.mode = mode;
      const seen = proxy.up.length;
      void alice.send(bobLink.id, env(2)); // its answer may never come
      if (mode !== "replay") {
        // Send env(3) in a record of its own, after the proxy took env(2)'s record.
        await waitFor(() => proxy.up.length === seen + 1, "env(2)'s record at the proxy");
        void alice.send(bobLink.id, env(3));
      }
      const closed = await linkEnd(alice);
      assertEquals(closed.code, "auth_failed", "the relay closed the link");
      assertEquals(r.counter("link_errors_total"), 1);

      // Flush Bob's link: once Carol's envelope arrives, everything queued before it has too.
      assertEquals((await carol.send(bobLink.id, env(99))).status, "delivered");
      await waitFor(() => bob.counts.get(99) === 1, "Carol's marker envelope");
      for (const [i, n] of bob.counts) assertEquals(n, 1, `envelope ${i} delivered once`);
      const expected = mode === "replay" ? [1, 2, 99] : [1, 99];
      assertEquals(bob.order, expected, "nothing after the tampered record got through");
      assertEquals(r.counter("envelopes_delivered_total"), expected.length);
    } finally {
      await bobLink.close();
      await carol.close();
      await proxy.close();
      await settled(r);
      await r.close();
    }
  });
}

Deno.test("a replayed relay→daemon record closes the daemon's link; delivered once", async () => {
  const r = await startTestRelay();
  const bob = counter();
  let replayed = false;
  let armed = false;
  const proxy = startProxy(r.address, {
    down: (i, b, forward) => {
      forward(b);
      if (armed && i >= 2 && !replayed) {
        replayed = true;
        forward(b); // the record that carried the DELIVER, again
      }
    },
  });
  const bobLink = await LinkClient.connect({
    address: proxy.address,
    ...(await daemonKeys()),
    onDeliver: bob.onDeliver,
  });
  const alice = await connectClient(r.address);
  try {
    armed = true;
    assertEquals((await alice.send(bobLink.id, env(1))).status, "delivered");
    const closed = await linkEnd(bobLink);
    assertEquals(closed.code, "auth_failed", "the daemon refused the replay");
    assertEquals(replayed, true);
    assertEquals(bob.order, [1], "delivered exactly once");
  } finally {
    await alice.close();
    await proxy.close();
    await settled(r);
    await r.close();
  }
});
