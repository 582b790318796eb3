/**
 * A malicious relay replays MSG envelopes: one right behind the original, and later every MSG
 * envelope A ever sent to B. B stores each message exactly once, and B's own session rejects
 * every replayed envelope at the crypto layer (`replayed`), while it still opens a fresh one.
 *
 * @module
 */
import { assertEquals, assertRejects } from "../_assert.ts";
import { concat } from "../../protocol/bytes.ts";
import { pad, parseEnvelope } from "../../protocol/envelope.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { parseId } from "../../protocol/identity.ts";
import { encodePayload } from "../../protocol/payload.ts";
import { E2ESession } from "../../protocol/session.ts";
import {
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
    assertEquals(old.length >= texts.length, true);
    for (const env of old) assertEquals(w.hub.inject(b.key, a.key, env), "delivered");
    await waitDelivered(a, await sendAll(a, b, ["after the replays"]));
    const all = [...texts, "after the replays"];
    assertEquals(received(b, a), all, "each message once, in order");
    assertEquals(journaled(b, a), all, "one message event each");
    assertEquals(b.events.filter((e) => e.type === "error"), []);

    // B's own session state rejects each replayed envelope at the crypto layer.
    const ad = concat(parseId(a.id), parseId(b.id));
    const states = await storedSessions(b, a);
    assertEquals(states.length, 1, "one session, never replaced");
    const atB = E2ESession.fromJSON(states[0]!);
    for (const env of old) {
      await assertRejects(
        () => atB.open(parseEnvelope(env), ad),
        (e) => e instanceof ProtocolError && e.code === "replayed",
        "a replayed envelope opened",
      );
    }
    // Positive control: that same state opens a fresh envelope from A's session.
    const atA = E2ESession.fromJSON((await storedSessions(a, b))[0]!);
    const fresh = await atA.seal(pad(encodePayload({ t: "a", upto: 0 })), ad);
    assertEquals((await atB.open(parseEnvelope(fresh), ad)).length, 256);
  } finally {
    await w.close();
  }
});
