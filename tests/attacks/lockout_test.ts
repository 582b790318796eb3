/**
 * Attack: lock everyone out by holding the relay's scarce slots. One IP logged in throwaway
 * identities until the session cap was full, so every new login and every reconnect got
 * `4008 server_busy`; a few IPs held the global cap of pending handshakes (upgrade, then say
 * nothing) and 37–50 % of legitimate logins got HTTP 503.
 *
 * What stops it now (relay/admission.ts): per-IP caps on sessions (--max-sessions-per-ip) and
 * on pending handshakes (--max-pending-handshakes-per-ip), far below the global caps; and at a
 * global cap the source holding the most slots gives one up (its newest session, or its oldest
 * pending handshake, closed with 4008 server_busy), unless it holds no more than the newcomer's
 * own source. An attacker can push every source down to an equal share, never lock one out.
 *
 * The attacker connects from 127.0.0.2 (the only other address the test task may bind); the
 * fairness among several attacker sources is checked on the admission pool itself.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import {
  connectClient,
  newKeys,
  type RelayProcess,
  startRelayProcess,
  waitFor,
} from "../harness.ts";
import { SlotPool } from "../../relay/admission.ts";
import type { LinkClient, LinkClientOptions } from "../../daemon/link_client.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import {
  aliveFlag,
  ATTACKER,
  type CloseInfo,
  RawClient,
  scrapeProcess,
  UpgradeRefused,
} from "./_helpers.ts";

const FAST = ["--handshakes-per-ip", "1000", "--handshake-burst", "1000"];

/** Logs in from `localAddress` (default 127.0.0.1); the ProtocolError code if refused. */
async function login(
  r: RelayProcess,
  localAddress?: string,
  o: Partial<LinkClientOptions> = {},
): Promise<LinkClient | string> {
  try {
    return await connectClient(r.address, { localAddress, timeoutMs: 5000, ...o });
  } catch (e) {
    if (e instanceof ProtocolError) return e.code;
    throw e;
  }
}

/** An envelope from `a` reaches `b`. */
async function exchange(a: LinkClient, b: LinkClient, got: Uint8Array[]): Promise<void> {
  const n = got.length;
  assertEquals((await a.send(b.id, Uint8Array.of(42))).status, "delivered");
  await waitFor(() => got.length > n, "the envelope");
}

Deno.test("sessions: an attacker filling the relay from one IP is held to its cap, and each legitimate login evicts one of its sessions", async () => {
  const relay = await startRelayProcess({
    args: [...FAST, "--max-sessions", "20", "--max-sessions-per-ip", "20"],
  });
  const alive = aliveFlag(relay.exited);
  const attackers: LinkClient[] = [];
  const legit: LinkClient[] = [];
  try {
    // The attacker fills the relay: 20 sessions from 127.0.0.2, a few at a time.
    for (let i = 0; i < 20; i += 5) {
      const batch = await Promise.all(Array.from({ length: 5 }, () => login(relay, ATTACKER)));
      for (const c of batch) {
        assertOk(typeof c !== "string", `attacker login ${i}: ${c}`);
        attackers.push(c);
      }
    }
    assertEquals(await scrapeProcess(relay.metrics, "sessions_online"), 20, "the relay is full");
    // A 21st from the attacker's address is over its cap.
    assertEquals(await login(relay, ATTACKER), "server_busy");

    // Ten legitimate daemons from 127.0.0.1: every one logs in, each evicting one attacker
    // session (its newest) with 4008 server_busy.
    const got: Uint8Array[] = [];
    const keys0 = await newKeys();
    for (let i = 0; i < 10; i++) {
      const c = await login(relay, undefined, {
        ...(i === 0 ? keys0 : {}),
        ...(i === 9 ? { onDeliver: (_f: Uint8Array, e: Uint8Array) => got.push(e) } : {}),
      });
      assertOk(typeof c !== "string", `legitimate login ${i} refused: ${c}`);
      legit.push(c);
    }
    await waitFor(() => attackers.filter((a) => a.isClosed).length === 10, "10 evictions", 5000);
    const evicted = attackers.filter((a) => a.isClosed);
    for (const a of evicted) assertEquals((await a.closed()).code, "server_busy");
    assertOk(
      evicted.every((a) => attackers.indexOf(a) >= 10),
      "the attacker's newest sessions were given up",
    );
    assertOk(legit.every((c) => !c.isClosed), "no legitimate session was evicted");
    assertEquals(await scrapeProcess(relay.metrics, "sessions_online"), 20);

    // Now both sources hold 10: the next newcomer from 127.0.0.1 does not take more than an
    // equal share (no source holds more than its own)...
    assertEquals(await login(relay), "server_busy");
    assertEquals(attackers.filter((a) => a.isClosed).length, 10, "nothing more was evicted");
    // ...but a reconnect of a logged-in id replaces its own session and always gets in.
    const again = await login(relay, undefined, keys0);
    assertOk(typeof again !== "string", `a reconnect was refused: ${again}`);
    assertEquals((await legit[0]!.closed()).code, "replaced");
    legit[0] = again;
    await exchange(again, legit[9]!, got);
    assertOk(alive(), "the relay is alive");
  } finally {
    for (const c of [...attackers, ...legit]) if (!c.isClosed) await c.close();
    assertEquals(await relay.stop(), 0);
  }
});

Deno.test("handshakes: an attacker holding every pending-handshake slot does not stop 10 concurrent legitimate logins (0 % refused)", async () => {
  const CAP = 32;
  const relay = await startRelayProcess({
    args: [
      ...FAST,
      "--max-pending-handshakes",
      String(CAP),
      "--max-pending-handshakes-per-ip",
      String(CAP), // one attacker address: it alone may fill the global cap
      "--handshake-timeout-ms",
      "30000",
    ],
  });
  const alive = aliveFlag(relay.exited);
  const url = new URL(relay.address);
  url.hash = "";
  const stalled: RawClient[] = [];
  const legit: LinkClient[] = [];
  try {
    // The attacker upgrades and says nothing, CAP times.
    for (let i = 0; i < CAP; i++) {
      stalled.push(await RawClient.open(url.href, { localAddress: ATTACKER }));
    }
    const ends: (CloseInfo | undefined)[] = stalled.map(() => undefined);
    stalled.forEach((s, i) => s.closed.then((e) => (ends[i] = e)));
    assertEquals(await scrapeProcess(relay.metrics, "handshakes_pending"), CAP);
    const over = await RawClient.open(url.href, { localAddress: ATTACKER }).catch((e) => e);
    assertOk(over instanceof UpgradeRefused && over.status === 429, `over its cap: ${over}`);

    const results = await Promise.all(Array.from({ length: 10 }, () => login(relay)));
    const refused = results.filter((c) => typeof c === "string");
    console.log(`lockout: ${refused.length} of 10 legitimate logins refused (${refused})`);
    assertEquals(refused, [], "every legitimate login got in");
    for (const c of results) legit.push(c as LinkClient);

    // Each one took the slot of one stalled handshake, the oldest first, closed with 4008.
    await waitFor(() => ends.filter((e) => e).length === 10, "10 evictions", 5000);
    const busy = ends.filter((e) => e);
    assertOk(busy.every((e) => e!.code === 4008 && e!.reason === "server_busy"), "4008");
    assertOk(ends.slice(0, 10).every((e) => e), "the oldest ones");
    assertEquals(await scrapeProcess(relay.metrics, "handshakes_pending"), CAP - 10);

    const got: Uint8Array[] = [];
    const rx = await connectClient(relay.address, { onDeliver: (_f, e) => got.push(e) });
    legit.push(rx);
    await exchange(legit[0]!, rx, got);
    assertOk(alive(), "the relay is alive");
  } finally {
    for (const s of stalled) s.ws.terminate();
    for (const c of legit) await c.close();
    assertEquals(await relay.stop(), 0);
  }
});

Deno.test("one IP alone never holds more than its per-IP caps of sessions and pending handshakes", async () => {
  const relay = await startRelayProcess({
    args: [...FAST, "--max-sessions-per-ip", "5", "--max-pending-handshakes-per-ip", "4"],
  });
  const alive = aliveFlag(relay.exited);
  const url = new URL(relay.address);
  url.hash = "";
  const sessions: LinkClient[] = [];
  const stalled: RawClient[] = [];
  try {
    const results: (LinkClient | string)[] = [];
    for (let i = 0; i < 8; i++) results.push(await login(relay, ATTACKER));
    for (const c of results) if (typeof c !== "string") sessions.push(c);
    assertEquals(sessions.length, 5, "5 sessions");
    assertEquals(results.slice(5), ["server_busy", "server_busy", "server_busy"]);

    const opens = await Promise.allSettled(
      Array.from({ length: 10 }, () => RawClient.open(url.href, { localAddress: ATTACKER })),
    );
    for (const o of opens) if (o.status === "fulfilled") stalled.push(o.value);
    assertEquals(stalled.length, 4, "4 pending handshakes");
    assertOk(
      opens.every((o) =>
        o.status === "fulfilled" || (o.reason instanceof UpgradeRefused && o.reason.status === 429)
      ),
      "the rest got 429 before the upgrade",
    );
    assertEquals(await scrapeProcess(relay.metrics, "sessions_online"), 5);
    assertEquals(await scrapeProcess(relay.metrics, "handshakes_pending"), 4);

    // 127.0.0.1 is not held to the attacker's count.
    const got: Uint8Array[] = [];
    const a = await connectClient(relay.address);
    const b = await connectClient(relay.address, { onDeliver: (_f, e) => got.push(e) });
    sessions.push(a, b);
    await exchange(a, b, got);
    assertOk(alive(), "the relay is alive");
  } finally {
    for (const s of stalled) s.ws.terminate();
    for (const c of sessions) await c.close();
    assertEquals(await relay.stop(), 0);
  }
});

/** A slot holder of the pool tests. */
class Holder {
  evicted = false;
  constructor(readonly source: string, readonly n: number) {}
  evict(): void {
    this.evicted = true;
  }
}

Deno.test("admission: 3 attacker IPs filling 60 sessions (20 each) give way to 10 legitimate logins, the biggest source first", () => {
  const pool = new SlotPool<Holder>(60, 20);
  const held: Holder[] = [];
  for (const ip of ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) {
    for (let i = 0; i < 20; i++) {
      const h = new Holder(ip, i);
      assertEquals(pool.admit(h, "newest"), "ok");
      held.push(h);
    }
  }
  assertEquals(pool.admit(new Holder("10.0.0.1", 20), "newest"), "per_source");
  for (let i = 0; i < 10; i++) {
    assertEquals(pool.admit(new Holder("127.0.0.1", i), "newest"), "ok", `legit ${i}`);
  }
  const evicted = held.filter((h) => h.evicted);
  assertEquals(evicted.length, 10);
  assertEquals(pool.size, 60);
  const left = ["10.0.0.1", "10.0.0.2", "10.0.0.3"].map((ip) => pool.countOf(ip));
  assertOk(Math.max(...left) - Math.min(...left) <= 1, `taken evenly: ${left}`);
  assertOk(evicted.every((h) => h.n >= 16), "the newest of each source");
  // Everyone can be pushed to an equal share (15 of 60 each), no further.
  let more = 0;
  while (pool.admit(new Holder("127.0.0.1", 100 + more), "newest") === "ok") more++;
  assertEquals(pool.countOf("127.0.0.1"), 15);
  assertEquals(["10.0.0.1", "10.0.0.2", "10.0.0.3"].map((ip) => pool.countOf(ip)), [15, 15, 15]);
});

Deno.test("admission: 4 attacker IPs holding 32 pending handshakes (8 each) give way to 10 legitimate logins, oldest first", () => {
  const ips = ["10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.4"];
  const fill = () => {
    const pool = new SlotPool<Holder>(32, 8);
    const held: Holder[] = [];
    for (let i = 0; i < 8; i++) {
      for (const ip of ips) {
        const h = new Holder(ip, i);
        assertEquals(pool.admit(h, "oldest"), "ok");
        held.push(h);
      }
    }
    assertEquals(pool.admit(new Holder(ips[0]!, 8), "oldest"), "per_source");
    return { pool, held };
  };
  // A login holds its handshake slot for one round trip, and the attackers refill the slot
  // they lost at once: one after the other, all ten get in, each evicting an oldest one.
  const { pool, held } = fill();
  for (let i = 0; i < 10; i++) {
    const h = new Holder("127.0.0.1", i);
    const before = held.filter((x) => x.evicted);
    const oldest = ips.map((ip) => held.find((x) => x.source === ip && !x.evicted));
    assertEquals(pool.admit(h, "oldest"), "ok", `legit ${i}`);
    const lost = held.filter((x) => x.evicted && !before.includes(x));
    assertEquals(lost.length, 1, "one attacker handshake gave way");
    assertOk(oldest.includes(lost[0]), "the oldest of its source");
    pool.release(h); // logged in
    const refill = new Holder(lost[0]!.source, 100 + i);
    assertEquals(pool.admit(refill, "oldest"), "ok");
    held.push(refill);
  }
  assertEquals(held.filter((h) => h.evicted).length, 10);
  assertEquals(pool.size, 32);
  // All in flight at once, one source gets an equal share (32 / 5 sources), no less.
  const again = fill().pool;
  let inFlight = 0;
  while (again.admit(new Holder("127.0.0.1", inFlight), "oldest") === "ok") inFlight++;
  assertOk(inFlight >= Math.floor(32 / 5), `${inFlight} at once`);
  assertEquals(again.size, 32);
});
