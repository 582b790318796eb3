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
  counterOf,
  HS1,
  journaled,
  onMsgs,
  type Peer,
  received,
  sendAll,
  startWorld,
  storedSessions,
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
    assertOk(dropped, "the relay did drop an envelope");
    assertEquals(received(b, a), texts, "all once, in order");
    assertEquals(journaled(b, a), texts);
    assertEquals(w.hub.seen(a.key, b.key, HS1).length, 1, "no new handshake");
    assertEquals(w.hub.seen(b.key, a.key, HS1).length, 0);

    // B opened envelopes beyond the gap in the same session: the gap's key is kept, skipped.
    const n = counterOf(dropped);
    const [state, ...older] = await storedSessions(b, a);
    assertEquals(older.length, 0, "one session");
    assertOk(state!.recvN > n + 1, `B decrypted past ${n} (recvN ${state!.recvN})`);
    assertOk(state!.skipped.some(([k]) => k === n), "the dropped message's key is skipped");

    // The dropped envelope arrives late: it opens with the skipped key, and is not stored again.
    w.hub.rule = undefined;
    assertEquals(w.hub.inject(b.key, a.key, dropped), "delivered");
    await waitFor(
      async () => !(await storedSessions(b, a))[0]!.skipped.some(([k]) => k === n),
      "B to use the skipped key on the late envelope",
    );
    await waitDelivered(a, await sendAll(a, b, ["drop 6"]));
    assertEquals(received(b, a), [...texts, "drop 6"]);
    assertEquals(journaled(b, a), [...texts, "drop 6"]);
  } finally {
    await w.close();
  }
});
