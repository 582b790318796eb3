/**
 * The relay-wide queue budget (relay/queue_budget.ts) in memory with a fake clock, then through
 * a relay: many slow readers cannot make it hold more than maxTotalQueueBytes; the excess is
 * refused as recipient_busy, and the budget comes back as the queues drain.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { QueueBudget, SWEEP_MS } from "../../relay/queue_budget.ts";

class Fake {
  held = 0;
  queued(): number {
    return this.held;
  }
}

Deno.test("queue budget: charges up to the bound, then refuses", () => {
  const b = new QueueBudget(100, () => 0);
  const s = new Fake();
  assertOk(b.take(s, 60));
  s.held = 60;
  assertOk(b.take(s, 40));
  s.held = 100;
  assertOk(!b.take(s, 1), "full");
  assertEquals(b.used, 100);
  // The session drained 70: its own next take sees it at once.
  s.held = 30;
  assertOk(b.take(s, 50));
  assertEquals(b.used, 80);
});

Deno.test("queue budget: when full, a sweep (at most once per SWEEP_MS) finds what others drained", () => {
  let now = 1000;
  const b = new QueueBudget(100, () => now);
  const [x, y] = [new Fake(), new Fake()];
  assertOk(b.take(x, 100));
  x.held = 100;
  x.held = 0; // x's reader took everything, unknown to the budget yet
  assertOk(b.take(y, 50), "the sweep found x empty");
  assertEquals([b.used, b.sessions], [50, 1]);
  y.held = 50;
  assertOk(b.take(y, 50));
  y.held = 100;
  y.held = 0;
  const z = new Fake();
  // y's own refresh runs only when y takes; z's take must sweep, and one ran just now.
  assertOk(!b.take(z, 10), "no second sweep within SWEEP_MS");
  now += SWEEP_MS;
  assertOk(b.take(z, 10), "the sweep found y empty");
  z.held = 10;
  assertOk(b.take(z, 90));
  z.held = 100;
  z.held = 60;
  assertOk(!b.take(x, 50), "a sweep ran less than SWEEP_MS ago");
  now += SWEEP_MS;
  assertOk(b.take(x, 40), "the next sweep finds z at 60");
});

Deno.test("queue budget: release forgets a closed session's charge", () => {
  const b = new QueueBudget(100);
  const s = new Fake();
  assertOk(b.take(s, 100));
  b.release(s);
  b.release(s);
  assertEquals([b.used, b.sessions], [0, 0]);
});
