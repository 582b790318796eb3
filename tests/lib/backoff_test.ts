import { assertEquals, assertOk } from "../_assert.ts";
import { Backoff } from "../../lib/backoff.ts";

Deno.test("backoff: grows by its factor to the cap, jitters around the delay, resets", () => {
  const exact = new Backoff({ initialMs: 250, maxMs: 5000 });
  assertEquals(Array.from({ length: 7 }, () => exact.next()), [
    250,
    500,
    1000,
    2000,
    4000,
    5000,
    5000,
  ]);
  assertEquals(exact.failures, 7);
  exact.reset();
  assertEquals([exact.failures, exact.next()], [0, 250]);

  let r = 0;
  const rolls = [0, 0.5, 0.999999];
  const jittered = new Backoff({
    initialMs: 1000,
    maxMs: 60_000,
    factor: 1.5,
    jitter: 0.2,
    random: () => rolls[r++ % 3]!,
  });
  const [low, mid, high] = [jittered.next(), jittered.next(), jittered.next()];
  assertEquals([low, mid], [800, 1500]);
  assertOk(Math.abs(high - 2250 * 1.2) < 0.01, String(high));
  jittered.max();
  assertEquals(jittered.next(), 60_000 * 0.8);
});

Deno.test("backoff: wait sleeps the next delay and ends at once when aborted", async () => {
  const b = new Backoff({ initialMs: 10, maxMs: 10 });
  const t0 = performance.now();
  await b.wait();
  assertOk(performance.now() - t0 >= 9, "slept");
  const ctl = new AbortController();
  const long = new Backoff({ initialMs: 60_000, maxMs: 60_000 });
  const waiting = long.wait(ctl.signal);
  ctl.abort();
  await waiting; // no timer left behind: the test's sanitizer would fail otherwise
  await long.wait(ctl.signal); // already aborted: at once
});
