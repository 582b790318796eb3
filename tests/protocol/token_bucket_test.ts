import { assertEquals, assertOk } from "../_assert.ts";
import { TokenBucket } from "../../protocol/token_bucket.ts";

const T0 = 1_700_000_000_000; // an injected clock, in ms

Deno.test("token bucket: starts full and gives out exactly its burst", () => {
  const b = new TokenBucket(10, 5, T0);
  assertOk(b.isFull(T0));
  for (let i = 0; i < 5; i++) assertOk(b.take(T0), `token ${i}`);
  assertEquals(b.take(T0), false, "empty");
  assertEquals(b.isFull(T0), false);
});

Deno.test("token bucket: refills at its rate from the injected clock", () => {
  const b = new TokenBucket(4, 5, T0); // one token per 250 ms
  for (let i = 0; i < 5; i++) b.take(T0);
  assertEquals(b.waitMs(T0 + 125), 125, "half a token there, half to wait for");
  assertEquals(b.take(T0 + 249), false, "0.996 of a token");
  assertOk(b.take(T0 + 250), "one token after 250 ms");
  assertEquals(b.take(T0 + 250), false);
  assertEquals(b.waitMs(T0 + 375), 125);
  assertOk(b.take(T0 + 875), "two and a half tokens after 625 ms more");
  assertOk(b.take(T0 + 875));
  assertEquals(b.take(T0 + 875), false);
});

Deno.test("token bucket: saves up no more than the burst", () => {
  const b = new TokenBucket(1000, 3, T0);
  for (let i = 0; i < 3; i++) b.take(T0);
  assertOk(b.isFull(T0 + 3_600_000), "an hour later");
  for (let i = 0; i < 3; i++) assertOk(b.take(T0 + 3_600_000));
  assertEquals(b.take(T0 + 3_600_000), false);
});

Deno.test("token bucket: a take of n is all or nothing", () => {
  const b = new TokenBucket(1, 10, T0);
  assertOk(b.take(T0, 7));
  assertEquals(b.take(T0, 4), false, "3 left");
  assertEquals(b.waitMs(T0, 4), 1000);
  assertOk(b.take(T0, 3), "the failed take took nothing");
  assertEquals(b.take(T0, 1), false);
  assertEquals(b.take(T0 + 1000, 11), false, "more than the burst never succeeds");
  assertOk(b.take(T0 + 1000, 1));
});

Deno.test("token bucket: a clock that goes backwards adds nothing", () => {
  const b = new TokenBucket(10, 2, T0);
  b.take(T0, 2);
  assertEquals(b.take(T0 - 60_000), false);
  assertEquals(b.take(T0 + 50), false, "time is measured from the latest reading");
  assertOk(b.take(T0 + 100));
});

Deno.test("token bucket: waitMs is 0 when tokens are there, and takes nothing", () => {
  const b = new TokenBucket(4, 1, T0);
  assertEquals(b.waitMs(T0), 0);
  assertEquals(b.waitMs(T0), 0);
  assertOk(b.take(T0));
  assertEquals(b.waitMs(T0), 250);
  assertEquals(b.waitMs(T0 + 250), 0);
});

Deno.test("token bucket: fractional rates work", () => {
  const b = new TokenBucket(0.5, 1, T0);
  assertOk(b.take(T0));
  assertEquals(b.waitMs(T0), 2000);
  assertEquals(b.take(T0 + 1999), false);
  assertOk(b.take(T0 + 2000));
});
