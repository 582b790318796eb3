/**
 * A malicious relay drops one MSG envelope (and claims it delivered it). B still decrypts the
 * later envelopes of the session (it keeps the skipped key), go-back-N resends from the gap, and
 * every message arrives exactly once, in order, without a new handshake. The dropped envelope,
 * delivered late, opens with the skipped key and is still not stored twice.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { waitFor } from "../harness.ts";
import {
  HS1,
  journaled,
  onMsgs,
  type Peer,
  received,
  sendAll,
  startWorld,
  storedSessions,
  tryOpen,
  waitDelivered,
} from "./_world.ts";

Deno.test("relay drops a MSG envelope: later ones decrypt, all arrive once, in order", async () => {
  const w = await startWorld(2);
  try {
    const [a, b] = w.peers as [Peer, Peer];
    let dropped: Uint8Array | undefined;
    w.hub.rule = onMsgs(a, b, (env, i) => {
      if (i !== 2) return undefined;
      dropped = env;
      return "delivered"; // a lie: nothing was delivered
    });
    const texts = ["drop 1", "drop 2", "drop 3", "drop 4", "drop 5"];
    await waitDelivered(a, await sendAll(a, b, texts), 30_000);
    if (!dropped) throw new Error("the relay did not drop an envelope");
    const late = dropped;
    assertEquals(received(b, a), texts, "all once, in order");
    assertEquals(journaled(b, a), texts);
    assertEquals(w.hub.seen(a.key, b.key, HS1).length, 1, "no new handshake");
    assertEquals(w.hub.seen(b.key, a.key, HS1).length, 0);

    // B opened envelopes beyond the gap in the same session: the gap's key is kept, skipped —
    // a copy of B's stored state opens the dropped envelope.
    assertEquals((await storedSessions(b, a)).length, 1, "one session");
    assertEquals(await tryOpen(b, a, late), "opened", "the dropped message's key is skipped");

    // The dropped envelope arrives late: it opens with the skipped key, which B then deletes
    // (its stored state no longer opens the envelope: `replayed`, or `auth_failed` once the
    // chain has no skipped key left), and is not stored again.
    w.hub.rule = undefined;
    assertEquals(w.hub.inject(b.key, a.key, late), "delivered");
    const after = await waitFor(
      async () => {
        const r = await tryOpen(b, a, late);
        return r !== "opened" && r;
      },
      "B to use the skipped key on the late envelope",
    );
    assertOk(after === "replayed" || after === "auth_failed", `the late envelope now: ${after}`);
    await waitDelivered(a, await sendAll(a, b, ["drop 6"]));
    assertEquals(received(b, a), [...texts, "drop 6"]);
    assertEquals(journaled(b, a), [...texts, "drop 6"]);
    assertEquals(w.hub.seen(b.key, a.key, HS1).length, 0, "the late envelope made no handshake");
  } finally {
    await w.close();
  }
});
