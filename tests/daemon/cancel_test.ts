/**
 * Issue 9, item 5: cancelling a queued message, in the in-memory delivery world. A cancelled
 * message is `failed` with reason `cancelled`, leaves the outbox and never reaches the peer, and
 * the messages around it still arrive in order (the `floor` moves past it); a delivered message
 * is refused, an incoming one too, an unknown id is not_found, and a second cancel changes nothing.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { RETRY_MS } from "../../daemon/delivery.ts";
import { waitFor } from "../harness.ts";
import { delivered, pair, received } from "./_delivery_world.ts";

async function refused(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { code: string }).code;
  }
  throw new Error("not refused");
}

Deno.test("cancel: a queued message never goes out; the ones around it arrive in order", async () => {
  const { a, b, relay, clock } = await pair();
  await delivered(a, [await a.send(b, "warm up")]); // a session exists
  relay.state = "offline";
  const first = await a.send(b, "first");
  const typo = await a.send(b, "the one to take back");
  const last = await a.send(b, "last");
  await a.delivery.cancel(typo);
  const m = a.messages.get(typo);
  assertEquals([m.status, m.reason], ["failed", "cancelled"]);
  assertEquals(a.outbox.get(typo), undefined);
  const ev = a.events.find((e) =>
    e.type === "status" && e.data.id === typo && e.data.status === "failed"
  );
  assertOk(ev?.type === "status" && ev.data.reason === "cancelled", "a status event says so");
  relay.state = "online";
  a.delivery.onRelayOnline();
  await waitFor(() => a.messages.get(first).status === "delivered", "the first");
  // B waits at the gap the cancelled message left until a retry's floor moves past it.
  for (let i = 0; i < 20 && a.messages.get(last).status !== "delivered"; i++) {
    clock.advance(RETRY_MS);
    a.delivery.tick();
    await new Promise((r) => setTimeout(r, 5));
  }
  await delivered(a, [first, last]);
  assertEquals(received(b, a), ["warm up", "first", "last"]);
  assertEquals(a.messages.get(typo).status, "failed", "still cancelled after the acks");
  assertEquals(a.errors, []);
  assertEquals(b.errors, []);
});

Deno.test("cancel: refused for a delivered or an incoming message; not_found for an unknown id; idempotent", async () => {
  const { a, b, relay } = await pair();
  const sent = await a.send(b, "hello");
  await delivered(a, [sent]);
  assertEquals(await refused(a.delivery.cancel(sent)), "already_delivered");
  assertEquals(a.messages.get(sent).status, "delivered");
  const incoming = b.events.find((e) => e.type === "message")!;
  assertEquals(await refused(b.delivery.cancel(String(incoming.data.id))), "bad_request");
  assertEquals(await refused(a.delivery.cancel(crypto.randomUUID())), "not_found");
  // A second cancel leaves it as it is: no second event.
  relay.state = "offline";
  const q = await a.send(b, "again");
  await a.delivery.cancel(q);
  const n = a.events.length;
  await a.delivery.cancel(q);
  assertEquals(a.events.length, n, "no second event");
  assertEquals([a.messages.get(q).status, a.messages.get(q).reason], ["failed", "cancelled"]);
});
