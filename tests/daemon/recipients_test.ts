/**
 * Issue 9, item 5: recipients checked against the relay's key directory once it can be asked,
 * with a fake lookup (no relay process). An unregistered id fails its queued messages at once
 * with `recipient_unknown` and loses the contact its send made; a contact the user named stays;
 * no answer is no verdict (retried with a backoff); a key found is pinned; lookups run at most
 * LOOKUP_CONCURRENCY at a time.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { ServiceError } from "../../daemon/service.ts";
import {
  LOOKUP_CONCURRENCY,
  LOOKUP_RETRY_MS,
  RECIPIENT_UNKNOWN,
  Recipients,
} from "../../daemon/recipients.ts";
import { randomSecret, signingKeyFromSeed } from "../../protocol/_crypto.ts";
import { clientIdFromPublicKey, formatId } from "../../protocol/identity.ts";
import { waitFor } from "../harness.ts";
import { Clock, FakeRelay, makeSide, type Side } from "./_delivery_world.ts";

/** A fresh, well-formed id and its key (nobody registered it). */
async function freshId(): Promise<{ id: string; key: Uint8Array }> {
  const k = await signingKeyFromSeed(randomSecret());
  return { id: formatId(clientIdFromPublicKey(k.publicKey)), key: k.publicKey };
}

/** Accepts a message to `peer` as the engine's send does while the relay cannot be asked. */
async function queue(side: Side, peer: string, text: string, clock: Clock): Promise<string> {
  const { m } = await side.store.write(() => {
    side.contacts.ensure(peer);
    return side.messages.accept(peer, text, undefined, clock.now());
  });
  side.outbox.add(m);
  return m.id;
}

type Answer = "unknown" | "none" | Uint8Array;

async function world() {
  const relay = new FakeRelay();
  relay.state = "offline"; // the delivery engine stays out of the way
  const clock = new Clock();
  const a = await makeSide(relay, clock);
  const answers = new Map<string, Answer>();
  const asked: string[] = [];
  const failed: { peer: string; n: number; dropped: boolean }[] = [];
  let active = 0, maxActive = 0;
  let gate: Promise<void> = Promise.resolve();
  const recipients = new Recipients({
    store: a.store,
    contacts: a.contacts,
    messages: a.messages,
    outbox: a.outbox,
    lookup: async (peer) => {
      asked.push(peer);
      active++;
      maxActive = Math.max(maxActive, active);
      await gate;
      await new Promise((r) => setTimeout(r, 0));
      active--;
      const ans = answers.get(peer) ?? "none";
      if (ans === "unknown") throw new ServiceError("recipient_unknown", "not registered");
      return ans === "none" ? undefined : ans;
    },
    online: () => true,
    now: clock.now,
    onFailed: (peer, f, dropped) => failed.push({ peer, n: f.length, dropped }),
    onError: (_p, e) => a.errors.push(e),
  });
  return {
    a,
    clock,
    answers,
    asked,
    failed,
    recipients,
    maxActive: () => maxActive,
    hold: () => {
      const p = Promise.withResolvers<void>();
      gate = p.promise;
      return p.resolve;
    },
  };
}

Deno.test("recipients: an unregistered id fails every queued message with recipient_unknown, and the contact its send made goes", async () => {
  const w = await world();
  const { id } = await freshId();
  const ids = [await queue(w.a, id, "one", w.clock), await queue(w.a, id, "two", w.clock)];
  w.answers.set(id, "unknown");
  w.recipients.onRelayOnline();
  await waitFor(() => w.failed.length === 1, "the failure");
  for (const mid of ids) {
    const m = w.a.messages.get(mid);
    assertEquals([m.status, m.reason], ["failed", RECIPIENT_UNKNOWN]);
  }
  const events = w.a.events.filter((e) => e.type === "status" && e.data.status === "failed");
  assertEquals(events.map((e) => e.type === "status" && e.data.reason), [
    RECIPIENT_UNKNOWN,
    RECIPIENT_UNKNOWN,
  ]);
  assertEquals(w.a.outbox.size, 0);
  assertEquals(w.a.contacts.get(id), undefined, "the contact made by the send is gone");
  assertEquals(w.failed, [{ peer: id, n: 2, dropped: true }]);
  assertEquals(w.a.errors, []);
  // Writing to it again works as before (the sequence numbers go on; the history stays).
  const again = await queue(w.a, id, "three", w.clock);
  assertEquals(w.a.messages.get(again).seq, 3);
});

Deno.test("recipients: a contact the user named stays when its id is unknown; its messages fail", async () => {
  const w = await world();
  const { id } = await freshId();
  await w.a.store.write(() => w.a.contacts.add(id, "frank"));
  const mid = await queue(w.a, id, "hi frank", w.clock);
  w.answers.set(id, "unknown");
  w.recipients.onRelayOnline();
  await waitFor(() => w.failed.length === 1, "the failure");
  assertEquals(w.a.messages.get(mid).reason, RECIPIENT_UNKNOWN);
  assertEquals(w.a.contacts.get(id)?.name, "frank");
  assertEquals(w.failed[0]!.dropped, false);
});

Deno.test("recipients: no answer is no verdict: asked again after the backoff, and at once when the relay is back", async () => {
  const w = await world();
  const { id } = await freshId();
  const mid = await queue(w.a, id, "typo?", w.clock);
  w.recipients.run(); // no answer ("none")
  await waitFor(() => w.asked.length === 1 && w.recipients.pending === 0, "the first lookup");
  w.recipients.run();
  await new Promise((r) => setTimeout(r, 5));
  assertEquals(w.asked.length, 1, "not asked again before the backoff");
  assertEquals(w.a.messages.get(mid).status, "queued");
  w.clock.advance(LOOKUP_RETRY_MS);
  w.recipients.run();
  await waitFor(() => w.asked.length === 2 && w.recipients.pending === 0, "the retry");
  w.recipients.run();
  await new Promise((r) => setTimeout(r, 5));
  assertEquals(w.asked.length, 2, "the backoff doubled");
  w.answers.set(id, "unknown");
  w.recipients.onRelayOnline(); // the relay came back: backoffs are forgotten
  await waitFor(() => w.failed.length === 1, "the failure");
  assertEquals(w.a.messages.get(mid).status, "failed");
});

Deno.test("recipients: a key found is pinned and the messages stay queued; lookups run LOOKUP_CONCURRENCY at a time", async () => {
  const w = await world();
  const peers = await Promise.all(Array.from({ length: 6 }, () => freshId()));
  for (const p of peers) {
    await queue(w.a, p.id, `to ${p.id}`, w.clock);
    w.answers.set(p.id, p.key);
  }
  const release = w.hold();
  w.recipients.onRelayOnline();
  await waitFor(() => w.asked.length === LOOKUP_CONCURRENCY, "the first lookups");
  await new Promise((r) => setTimeout(r, 5));
  assertEquals(w.asked.length, LOOKUP_CONCURRENCY, "no more while those run");
  release();
  await waitFor(() => w.asked.length === peers.length && w.recipients.pending === 0, "all");
  assertOk(w.maxActive() <= LOOKUP_CONCURRENCY, `at most ${LOOKUP_CONCURRENCY} at once`);
  for (const p of peers) assertOk(w.a.contacts.get(p.id)?.identityKey, "pinned");
  assertEquals(w.a.outbox.size, peers.length);
  w.recipients.run();
  await new Promise((r) => setTimeout(r, 5));
  assertEquals(w.asked.length, peers.length, "a pinned peer is not asked again");
});
