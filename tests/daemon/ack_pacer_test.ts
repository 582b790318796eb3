/**
 * The acknowledgement schedule (daemon/_ack_pacer.ts), with an injected clock: a lone message is
 * acknowledged at once, a burst at most once per E2E_ACK_DELAY_MS (one deferred ack, never more),
 * E2E_ACK_EVERY waiting payloads at once, and stop() cancels what was arranged.
 */
import { assertEquals } from "../_assert.ts";
import { AckPacer, E2E_ACK_DELAY_MS, E2E_ACK_EVERY } from "../../daemon/_ack_pacer.ts";
import { waitFor } from "../harness.ts";

function world() {
  let t = 1_000;
  const later: string[] = [];
  const pacer = new AckPacer(() => t, (peer) => later.push(peer));
  return { pacer, later, advance: (ms: number) => void (t += ms) };
}

Deno.test("ack pacer: at once for a lone message, then one deferred ack per burst", async () => {
  const { pacer, later } = world();
  assertEquals(pacer.due("bob", 1), true, "the first of a burst: at once");
  pacer.sealed("bob");
  assertEquals([pacer.due("bob", 1), pacer.due("bob", 1), pacer.due("bob", 2)], [
    false,
    false,
    false,
  ]);
  await waitFor(() => later.length > 0, "the deferred ack");
  assertEquals(later, ["bob"], "one ack for the three batches");
  assertEquals(pacer.due("bob", 1), false, "it counted as sealed: the next waits again");
  pacer.stop();
});

Deno.test("ack pacer: E2E_ACK_EVERY waiting payloads go at once; a past delay goes at once", () => {
  const { pacer, later, advance } = world();
  pacer.sealed("bob");
  assertEquals(pacer.due("bob", E2E_ACK_EVERY - 1), false);
  assertEquals(pacer.due("bob", 1), true, `${E2E_ACK_EVERY} waiting`);
  pacer.sealed("bob");
  advance(E2E_ACK_DELAY_MS);
  assertEquals(pacer.due("bob", 1), true, "the last ack is E2E_ACK_DELAY_MS old");
  pacer.sealed("bob");
  assertEquals(pacer.due("alice", 1), true, "per peer");
  pacer.stop();
  assertEquals(later, []);
});

Deno.test("ack pacer: stop() cancels a deferred ack; many peers stay bounded", async () => {
  const { pacer, later, advance } = world();
  pacer.sealed("bob");
  assertEquals(pacer.due("bob", 1), false);
  pacer.stop();
  let fired = false;
  setTimeout(() => fired = true, E2E_ACK_DELAY_MS * 3);
  await waitFor(() => fired, "past the delay");
  assertEquals(later, [], "nothing fired after stop");
  for (let i = 0; i < 2_000; i++) {
    assertEquals(pacer.due(`p${i}`, 1), true);
    pacer.sealed(`p${i}`);
    advance(E2E_ACK_DELAY_MS);
  }
  assertEquals(pacer.size <= 256, true, `${pacer.size} peers tracked`);
  pacer.stop();
});

Deno.test("ack pacer: clear() forgets the schedules and goes on; after stop() every ack is at once", async () => {
  const { pacer, later } = world();
  pacer.sealed("bob");
  assertEquals(pacer.due("bob", 1), false);
  pacer.clear();
  assertEquals(pacer.due("bob", 1), true, "forgotten: the next is a first");
  pacer.sealed("bob");
  assertEquals(pacer.due("bob", 1), false, "and pacing goes on");
  pacer.stop();
  assertEquals(pacer.due("bob", 1), true, "stopped: at once, no timer");
  let fired = false;
  setTimeout(() => fired = true, E2E_ACK_DELAY_MS * 3);
  await waitFor(() => fired, "past the delay");
  assertEquals(later, [], "nothing deferred fired");
});
