/**
 * A malicious relay replays MSG envelopes: one right behind the original, and later every MSG
 * envelope A ever sent to B. B stores each message exactly once, and B's own session state opens
 * none of the replayed envelopes at the crypto layer — `replayed` while its chain is B's current
 * receiving chain (the key is used), `auth_failed` once that chain is gone (its keys with it) —
 * while it still opens a fresh one. A MSG that no session opens may make B start a new handshake
 * (protocol/README.md, section 11.7): that is budgeted, and changes nothing of the messages.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { BUDGETS } from "../../daemon/budget.ts";
import { pad } from "../../protocol/envelope.ts";
import { encodePayload } from "../../protocol/payload.ts";
import { waitFor } from "../harness.ts";
import {
  HS1,
  journaled,
  MSG,
  onMsgs,
  type Peer,
  received,
  sendAll,
  startWorld,
  storedSessions,
  tryOpen,
  waitDelivered,
} from "./_world.ts";

Deno.test("relay replays MSG envelopes at once and later: B stores each message once", async () => {
  const w = await startWorld(2);
  try {
    const [a, b] = w.peers as [Peer, Peer];
    const twice: ("delivered" | "offline")[] = [];
    w.hub.rule = onMsgs(a, b, (env, i, hub) => {
      if (i !== 2) return undefined;
      twice.push(hub.inject(b.key, a.key, env), hub.inject(b.key, a.key, env));
      return "delivered";
    });
    const texts = ["replay 1", "replay 2", "replay 3"];
    await waitDelivered(a, await sendAll(a, b, texts));
    assertEquals(twice, ["delivered", "delivered"], "the relay did deliver the copy");
    assertEquals(received(b, a), texts);

    // Later: every MSG envelope A sent to B, again, then one new message behind them.
    w.hub.rule = undefined;
    const old = w.hub.seen(a.key, b.key, MSG);
    assertOk(old.length >= texts.length, `A sent ${old.length} MSGs`);
    for (const env of old) assertEquals(w.hub.inject(b.key, a.key, env), "delivered");
    await waitDelivered(a, await sendAll(a, b, ["after the replays"]));
    const all = [...texts, "after the replays"];
    assertEquals(received(b, a), all, "each message once, in order");
    assertEquals(journaled(b, a), all, "one message event each");
    assertEquals(b.events.filter((e) => e.type === "error"), []);
    // Handshakes B started over the replays stay within its per-peer budget.
    const { burst } = BUDGETS.handshakesPerPeer;
    const bDialed = w.hub.seen(b.key, a.key, HS1).length;
    assertOk(bDialed <= burst, `B started ${bDialed} handshakes (≤ ${burst})`);

    // B's own stored sessions open none of the replayed envelopes.
    const refusals = new Set<string>();
    for (const env of old) {
      const r = await tryOpen(b, a, env);
      assertOk(r === "replayed" || r === "auth_failed", `a replayed envelope: ${r}`);
      refusals.add(r);
    }
    console.log(
      `replay: ${old.length} envelopes replayed, refused by B's state as ${[...refusals]}; B ` +
        `started ${bDialed} handshake(s)`,
    );
    // Positive control: a fresh envelope sealed with (a copy of) A's newest session opens with B's
    // stored state (once any handshake B started is over).
    await waitFor(async () => {
      const [atA] = await storedSessions(a, b);
      const fresh = await atA!.seal(pad(encodePayload({ t: "a", upto: 0 })), { now: Date.now() });
      return await tryOpen(b, a, fresh) === "opened";
    }, "a fresh envelope from A's session to open with B's");
  } finally {
    await w.close();
  }
});
