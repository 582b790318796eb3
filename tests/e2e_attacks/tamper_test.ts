/**
 * A malicious relay flips one byte in MSG envelopes (once each: in the encrypted header's
 * synthetic nonce, its ciphertext, its tag, the body's ciphertext, the body's tag). Each is
 * rejected without touching the session: every message arrives exactly once and in order, none
 * garbled, and the untampered originals, delivered late, still open with the keys B kept for them
 * (positive control: the rejection was the flip's doing). A MSG that no session opens may make B
 * start a new handshake (protocol/README.md, section 11.7): within its per-peer budget, and
 * without losing or doubling a message.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { BUDGETS } from "../../daemon/budget.ts";
import { waitFor } from "../harness.ts";
import {
  HS1,
  journaled,
  onMsgs,
  type Peer,
  received,
  sendAll,
  startWorld,
  tryOpen,
  waitDelivered,
} from "./_world.ts";

/** The encrypted header's length for a MSG's shape byte (section 13.3). */
function encHeaderLen(shape: number): number {
  return 12 + 40 + (shape & 1 ? 1184 : 0) + (shape & 2 ? 1088 : 0) + 16;
}

/** Which byte to flip in the i-th MSG envelope A sends to B (`2 ‖ shape ‖ enc_header ‖ body`). */
const FLIPS: Record<number, { what: string; at: (env: Uint8Array) => number }> = {
  2: { what: "header nonce", at: () => 2 + 3 },
  3: { what: "header ciphertext", at: () => 2 + 12 + 5 },
  4: { what: "header tag", at: (env) => 2 + encHeaderLen(env[1]!) - 1 },
  5: { what: "body ciphertext", at: (env) => 2 + encHeaderLen(env[1]!) + 5 },
  6: { what: "body tag", at: (env) => env.length - 1 },
};

const { burst } = BUDGETS.handshakesPerPeer;

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
      bad[flip.at(bad)]! ^= 0x01;
      return hub.inject(b.key, a.key, bad);
    });
    const texts = Array.from({ length: 8 }, (_, i) => `flip ${i + 1}`);
    await waitDelivered(a, await sendAll(a, b, texts), 30_000);
    assertEquals(originals.length, 5, "the relay did tamper five times");
    assertEquals(received(b, a), texts, "all once, in order, none garbled");
    assertEquals(journaled(b, a), texts);
    assertEquals(b.events.filter((e) => e.type === "error"), []);
    assertEquals(w.hub.seen(a.key, b.key, HS1).length, 1, "A never needed a new handshake");
    const bDialed = w.hub.seen(b.key, a.key, HS1).length;
    assertOk(bDialed <= burst, `B started ${bDialed} handshakes (≤ ${burst})`);

    // The tampered messages' keys are unused: (copies of) B's stored sessions open the
    // untampered originals.
    for (const [k, env] of originals.entries()) {
      assertEquals(await tryOpen(b, a, env), "opened", `original ${k + 1}: its key is kept`);
    }

    // Positive control: the untampered originals open late (and are not stored twice): B uses
    // the kept keys, after which its state no longer opens them.
    w.hub.rule = undefined;
    for (const env of originals) assertEquals(w.hub.inject(b.key, a.key, env), "delivered");
    await waitFor(
      async () => {
        for (const env of originals) if (await tryOpen(b, a, env) === "opened") return false;
        return true;
      },
      "B to open the untampered originals with the kept keys",
    );
    await waitDelivered(a, await sendAll(a, b, ["flip 9"]));
    assertEquals(received(b, a), [...texts, "flip 9"]);
    assertEquals(journaled(b, a), [...texts, "flip 9"]);
    assertEquals(w.hub.seen(a.key, b.key, HS1).length, 1);
    console.log(`tamper: 5 flipped MSGs; B started ${bDialed} handshake(s)`);
  } finally {
    await w.close();
  }
});

Deno.test("relay flips a prefix byte (version, shape) or truncates a MSG: all still arrive once, in order", async () => {
  const w = await startWorld(2);
  try {
    const [a, b] = w.peers as [Peer, Peer];
    // Version 2 → 3: no envelope at all (dropped unparsed). Shape: the header AD and lengths no
    // longer match. Truncated: too short for its shape.
    const BAD: Record<number, (env: Uint8Array) => Uint8Array> = {
      2: (env) => env.map((x, j) => j === 0 ? x ^ 0x01 : x),
      3: (env) => env.map((x, j) => j === 1 ? x ^ 0x01 : x),
      4: (env) => env.slice(0, 2 + encHeaderLen(env[1]!) - 1),
    };
    let bad = 0;
    w.hub.rule = onMsgs(a, b, (env, i, hub) => {
      const f = BAD[i];
      if (!f) return undefined;
      bad++;
      return hub.inject(b.key, a.key, f(env));
    });
    const texts = ["hdr 1", "hdr 2", "hdr 3", "hdr 4", "hdr 5"];
    await waitDelivered(a, await sendAll(a, b, texts), 30_000);
    assertEquals(bad, 3);
    assertEquals(received(b, a), texts);
    assertEquals(journaled(b, a), texts);
    assertEquals(b.events.filter((e) => e.type === "error"), []);
    // A MSG that opens under no session looks like one of a session B lost, so B may dial A
    // (by design, within budget); it never opens the forged envelope, nothing is stored twice.
    assertOk(w.hub.seen(b.key, a.key, HS1).length <= burst, "B's handshakes within budget");
    assertEquals(w.hub.seen(a.key, b.key, HS1).length, 1);
  } finally {
    await w.close();
  }
});
