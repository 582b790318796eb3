/**
 * Attack: one address opens WebSocket upgrades as fast as it can and never finishes a handshake,
 * to exhaust the relay's memory or lock others out. The per-IP rate and the global cap on pending
 * handshakes refuse the excess before the upgrade (HTTP 429/503); a handshake that stalls is
 * dropped after its timeout; and the relay keeps serving legitimate clients.
 */
import { assertEquals, assertOk, assertRejects } from "../_assert.ts";
import { IpLimiter } from "../../relay/limits.ts";
import { connectClient, waitFor } from "../harness.ts";
import { RawClient, settled, startTestRelay, type TestRelay, UpgradeRefused } from "./_helpers.ts";

const FLOOD = 60;

/** Opens FLOOD upgrades at once; returns the sockets that opened and the refusal statuses. */
async function flood(r: TestRelay): Promise<{ open: RawClient[]; refused: number[] }> {
  const results = await Promise.allSettled(
    Array.from({ length: FLOOD }, () => RawClient.open(r.url)),
  );
  const open: RawClient[] = [];
  const refused: number[] = [];
  for (const res of results) {
    if (res.status === "fulfilled") open.push(res.value);
    else if (res.reason instanceof UpgradeRefused) refused.push(res.reason.status);
    else throw res.reason;
  }
  return { open, refused };
}

Deno.test("a handshake flood from one IP is rate limited; the relay serves a client after", async () => {
  const r = await startTestRelay({
    limits: {
      handshakesPerIpPerSecond: 5,
      handshakeBurstPerIp: 5,
      maxPendingHandshakes: 8,
      handshakeTimeoutMs: 60_000,
    },
  });
  const logged: string[] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]) => logged.push(args.join(" "));
  try {
    const start = Date.now();
    const { open, refused } = await flood(r);
    const elapsedS = (Date.now() - start) / 1000;
    assertEquals(open.length + refused.length, FLOOD);
    assertOk(open.length >= 5, `the burst of 5 is served (${open.length})`);
    assertOk(
      open.length <= Math.min(8, 5 + Math.ceil(5 * elapsedS)),
      `at most the burst plus the refill got through: ${open.length} in ${elapsedS} s`,
    );
    assertOk(refused.every((s) => s === 429 || s === 503), `statuses ${refused}`);
    assertOk(refused.includes(429), "the per-IP rate refused some");
    assertEquals(await r.scrape("handshakes_pending"), open.length);
    assertEquals(r.counter("limit_hits_total"), refused.length);
    assertEquals(r.counter("handshakes_started_total"), open.length, "no refused one got a link");

    for (const c of open) await c.close();
    await settled(r);
    // Wait (by condition) for the per-IP bucket to refill: a legitimate client gets in.
    const legit = await waitFor(
      () => connectClient(r.address).catch(() => undefined),
      "a legitimate client to log in",
      5000,
    );
    assertEquals(r.counter("logins_total"), 1);
    await legit.close();
    assertOk(logged.some((l) => l.includes("handshake_rate_limited")), "the refusals are logged");
    assertOk(!logged.some((l) => l.includes("127.0.0.1")), "without the client's IP");
  } finally {
    console.error = consoleError;
    await r.close();
  }
});

Deno.test("pending handshakes never exceed the cap; the excess gets 503 before the upgrade", async () => {
  const r = await startTestRelay({
    limits: {
      handshakesPerIpPerSecond: 10_000,
      handshakeBurstPerIp: 10_000,
      maxPendingHandshakes: 8,
      handshakeTimeoutMs: 60_000,
    },
  });
  try {
    const { open, refused } = await flood(r);
    assertEquals(open.length, 8, "exactly the cap got through");
    assertEquals(refused.length, FLOOD - 8);
    assertOk(refused.every((s) => s === 503), `statuses ${refused}`);
    assertEquals(await r.scrape("handshakes_pending"), 8);
    assertEquals(r.counter("handshakes_started_total"), 8);

    // While the cap is full, one more is refused too (the memory bound holds for everyone).
    const e = await assertRejects(() => RawClient.open(r.url));
    assertEquals((e as UpgradeRefused).status, 503);

    for (const c of open) await c.close();
    await settled(r);
    const legit = await connectClient(r.address);
    assertEquals(await r.scrape("sessions_online"), 1);
    await legit.close();
  } finally {
    await r.close();
  }
});

Deno.test("stalled handshakes are dropped after the timeout, freeing their slots", async () => {
  const r = await startTestRelay({
    limits: { maxPendingHandshakes: 2, handshakeTimeoutMs: 1500 },
  });
  try {
    const stalled = [await RawClient.open(r.url), await RawClient.open(r.url)];
    const e = await assertRejects(() => RawClient.open(r.url));
    assertEquals((e as UpgradeRefused).status, 503);
    for (const c of stalled) {
      assertEquals(await c.ended(), { code: 4012, reason: "auth_failed" }, "closed by the relay");
      assertEquals(c.received.length, 0);
    }
    await settled(r);
    assertEquals(r.counter("handshakes_failed_total"), 2);
    const legit = await connectClient(r.address);
    await legit.close();
  } finally {
    await r.close();
  }
});

Deno.test("a flood from many addresses keeps the per-IP table bounded", () => {
  const limiter = new IpLimiter(1, 1, 100);
  let allowed = 0;
  for (let i = 0; i < 10_000; i++) if (limiter.allow(`10.0.${i >> 8}.${i & 255}`, 0)) allowed++;
  assertEquals(limiter.size, 100, "never more than maxTrackedIps entries");
  assertEquals(allowed, 100, "new addresses are refused while the table is full (fails closed)");
  // Once buckets have refilled, their entries can be reclaimed for new addresses.
  assertOk(limiter.allow("192.0.2.1", 10_000));
  assertOk(limiter.size <= 100);
});
