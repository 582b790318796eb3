/**
 * Attack (or accident): two sessions log in with the same identity. The newest must win, the
 * older one must be closed with `replaced`, and from then on envelopes for that id must reach
 * only the new session: never both, never the old one.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { generateDh } from "../../protocol/_crypto.ts";
import { connectClient, newKeys, waitFor } from "../harness.ts";
import { linkEnd, settled, startTestRelay } from "./_helpers.ts";
import type { LinkClient } from "../../daemon/link_client.ts";

function inbox() {
  const got: number[] = [];
  return { got, onDeliver: (_from: Uint8Array, e: Uint8Array) => got.push(e[0]!) };
}

Deno.test("a second login with the same id replaces the first; only the new one receives", async () => {
  const r = await startTestRelay();
  const keys = await newKeys();
  const box1 = inbox();
  const box2 = inbox();
  const sender = await connectClient(r.address);
  const first = await connectClient(r.address, { ...keys, onDeliver: box1.onDeliver });
  try {
    assertEquals((await sender.send(first.id, Uint8Array.of(0))).status, "delivered");
    await waitFor(() => box1.got.length === 1, "the first session's envelope");

    // Same identity, another link key (another machine, or a thief of the identity key).
    const second = await connectClient(r.address, {
      identity: keys.identity,
      linkKey: await generateDh(),
      onDeliver: box2.onDeliver,
    });
    assertEquals(second.id, first.id);
    const closed = await linkEnd(first);
    assertEquals(closed.code, "replaced");
    assertEquals(r.counter("sessions_replaced_total"), 1);
    assertEquals(await r.scrape("sessions_online"), 2, "the sender and the new session");

    for (let i = 1; i <= 20; i++) {
      assertEquals((await sender.send(first.id, Uint8Array.of(i))).status, "delivered");
    }
    await waitFor(() => box2.got.length === 20, "all envelopes at the new session");
    assertEquals(box2.got, Array.from({ length: 20 }, (_, i) => i + 1));
    assertEquals(box1.got, [0], "the old session got nothing after it was replaced");
    assertEquals(await first.send(sender.id, Uint8Array.of(9)), {
      status: "rejected",
      code: "internal",
    });
    await second.close();
  } finally {
    await sender.close();
    await settled(r);
    await r.close();
  }
});

Deno.test("concurrent logins with one id: exactly one survives and gets every envelope", async () => {
  const r = await startTestRelay();
  const keys = await newKeys();
  const boxes = [inbox(), inbox(), inbox()];
  const sender = await connectClient(r.address);
  try {
    const attempts = await Promise.allSettled(
      boxes.map(async (b) =>
        connectClient(r.address, {
          identity: keys.identity,
          linkKey: await generateDh(),
          onDeliver: b.onDeliver,
        })
      ),
    );
    const links: (LinkClient | undefined)[] = attempts.map((a) =>
      a.status === "fulfilled" ? a.value : undefined
    );
    assertOk(links.some((l) => l), "at least one login succeeded");
    // Wait until every loser is closed; a loser that closed before its WELCOME never resolved.
    const isOpen = (l: LinkClient | undefined) => l !== undefined && !l.isClosed;
    await waitFor(
      () =>
        links.filter(isOpen).length === 1 &&
        r.counter("sessions_replaced_total") === boxes.length - 1,
      "one survivor",
    );
    const survivor = links.findIndex(isOpen);
    for (const [i, l] of links.entries()) {
      if (i !== survivor && l) assertEquals((await linkEnd(l)).code, "replaced");
    }
    assertEquals(await r.scrape("sessions_online"), 2);

    const target = links[survivor]!.id;
    for (let i = 0; i < 10; i++) {
      assertEquals((await sender.send(target, Uint8Array.of(i))).status, "delivered");
    }
    await waitFor(() => boxes[survivor]!.got.length === 10, "the survivor's envelopes");
    for (const [i, b] of boxes.entries()) {
      const want = i === survivor ? Array.from({ length: 10 }, (_, k) => k) : [];
      assertEquals(b.got, want, `inbox ${i}`);
    }
    await links[survivor]!.close();
  } finally {
    await sender.close();
    await settled(r);
    await r.close();
  }
});
