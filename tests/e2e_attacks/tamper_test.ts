/**
 * A malicious relay flips one byte in MSG envelopes (once each: in the ciphertext, the clear
 * counter, the tag). Each is rejected without touching the session: later messages of the same
 * session still open, every message arrives exactly once and in order, no new handshake is
 * needed. The untampered originals, delivered late, still open (positive control: the rejection
 * was the flip's doing).
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { waitFor } from "../harness.ts";
import {
  counterOf,
  HS1,
  journaled,
  MSG,
  onMsgs,
  type Peer,
  received,
  sendAll,
  startWorld,
  storedSessions,
  waitDelivered,
} from "./_world.ts";

/** Which byte to flip in the i-th MSG envelope A sends to B. */
const FLIPS: Record<number, { what: string; at: (len: number) => number }> = {
  2: { what: "ciphertext", at: () => 10 + 4 + 5 },
  3: { what: "counter", at: () => 10 + 3 },
  4: { what: "tag", at: (len) => len - 1 },
};

Deno.test("relay flips a byte in MSG envelopes: rejected, session intact, all arrive once", async () => {
  const w = await startWorld(2);
  try {
    const [a, b] = w.peers as [Peer, Peer];
    const originals: Uint8Array[] = [];
    w.hub.rule = onMsgs(a, b, (env, i, hub) => {
      const flip = FLIPS[i];
      if (!flip) return undefined;
      originals.push(env);
      const bad = env.slice();
      bad[flip.at(bad.length)]! ^= 0x01;
      return hub.inject(b.key, a.key, bad);
    });
    const texts = ["flip 1", "flip 2", "flip 3", "flip 4", "flip 5", "flip 6"];
    await waitDelivered(a, await sendAll(a, b, texts), 30_000);
    assertEquals(originals.length, 3, "the relay did tamper three times");
    assertEquals(received(b, a), texts, "all once, in order, none garbled");
    assertEquals(journaled(b, a), texts);
    assertEquals(b.events.filter((e) => e.type === "error"), []);
    const hs1 = w.hub.routed.filter((r) => r.envelope[1] === HS1);
    assertEquals(hs1.length, 1, "no new handshake in either direction");

    // One session throughout: every MSG envelope names it, B still holds it, and the keys of
    // the tampered messages sit unused among the skipped ones (later messages opened past them).
    const [state, ...older] = await storedSessions(b, a);
    assertEquals(older.length, 0);
    const sids = new Set(
      w.hub.seen(a.key, b.key, MSG).map((e) => e.subarray(2, 10).toString()),
    );
    assertEquals(sids.size, 1, "one session id on the wire");
    const ns = originals.map(counterOf);
    for (const n of ns) assertOk(state!.skipped.some(([k]) => k === n), `key ${n} kept`);

    // Positive control: the untampered originals open late (and are not stored twice).
    w.hub.rule = undefined;
    for (const env of originals) assertEquals(w.hub.inject(b.key, a.key, env), "delivered");
    await waitFor(
      async () => {
        const left = (await storedSessions(b, a))[0]!.skipped.map(([k]) => k);
        return ns.every((n) => !left.includes(n));
      },
      "B to open the untampered originals with the kept keys",
    );
    await waitDelivered(a, await sendAll(a, b, ["flip 7"]));
    assertEquals(received(b, a), [...texts, "flip 7"]);
    assertEquals(w.hub.routed.filter((r) => r.envelope[1] === HS1).length, 1);
  } finally {
    await w.close();
  }
});

Deno.test("relay flips a header byte (version, kind, session id): all still arrive once, in order", async () => {
  const w = await startWorld(2);
  try {
    const [a, b] = w.peers as [Peer, Peer];
    const HEADER: Record<number, number> = { 2: 0, 3: 1, 4: 5 }; // version, kind, a session id byte
    let flipped = 0;
    w.hub.rule = onMsgs(a, b, (env, i, hub) => {
      const at = HEADER[i];
      if (at === undefined) return undefined;
      flipped++;
      const bad = env.slice();
      bad[at]! ^= 0x01;
      return hub.inject(b.key, a.key, bad);
    });
    const texts = ["hdr 1", "hdr 2", "hdr 3", "hdr 4", "hdr 5"];
    await waitDelivered(a, await sendAll(a, b, texts), 30_000);
    assertEquals(flipped, 3);
    assertEquals(received(b, a), texts);
    assertEquals(journaled(b, a), texts);
    // An unknown session id looks like a session B lost, so B may dial A once (by design); it
    // never opens the forged envelope, and nothing is stored twice.
    assertOk(w.hub.seen(b.key, a.key, HS1).length <= 1, "at most one handshake from B");
    assertEquals(w.hub.seen(a.key, b.key, HS1).length, 1);
  } finally {
    await w.close();
  }
});
