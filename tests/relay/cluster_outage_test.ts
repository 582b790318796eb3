/**
 * Issue 11, item 7, in process: what a cluster node does while Redis is away or silent. The
 * envelope bytes it hands to Redis stay under MAX_CROSS_NODE_BYTES whether Redis is gone or
 * stopped with its socket open; a login while Redis is down is claimed once it is back; a
 * subscription that goes silent (the connection up, nothing arriving) is noticed by the inbox
 * ping and renewed. Each test starts its own redis-server on a private port.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { freePort, waitFor } from "../harness.ts";
import { ClusterRouter, MAX_CROSS_NODE_BYTES } from "../../relay/cluster/router.ts";
import {
  HEARTBEAT_MS,
  NODE_TTL_MS,
  PING_DEAD_MS,
  PRESENCE_REFRESH_MS,
} from "../../relay/cluster/_liveness.ts";
import { PRESENCE_CHANNEL } from "../../relay/cluster/_presence.ts";
import { presenceKey } from "../../relay/cluster/_remote.ts";
import { createClient } from "redis";
import { idKey, type SessionHandle } from "../../relay/hub.ts";
import { makeLogger } from "../../relay/log.ts";
import { Metrics } from "../../relay/metrics.ts";
import { startRedis, type TestRedis } from "./_redis.ts";

const log = makeLogger({ logIps: false, quiet: true });

interface Fake extends SessionHandle {
  got: Uint8Array[];
}

function session(): Fake {
  const id = crypto.getRandomValues(new Uint8Array(16));
  const got: Uint8Array[] = [];
  return {
    id,
    key: idKey(id),
    got,
    deliver: (_from, e) => (got.push(e), "ok"),
    presence: () => {},
    terminate: () => {},
  };
}

async function router(url: string, node: string, metrics = new Metrics()) {
  return await ClusterRouter.start({ url, node, log, metrics });
}

const gauge = (r: ClusterRouter, name: string) => r.gauges()[name]![1];

/** Two nodes, A on n1 and B on n2, with one envelope through (so n1 knows where B is). */
async function pair(redis: TestRedis, url2 = redis.url, m2 = new Metrics()) {
  const r1 = await router(redis.url, "n1");
  const r2 = await router(url2, "n2", m2);
  const a = session(), b = session();
  r1.attach(a);
  r2.attach(b);
  await waitFor(
    async () => r1.aliveNodes === 2 && await r1.route(a, b.id, Uint8Array.of(1)) === "delivered",
    "a first envelope through Redis",
  );
  await waitFor(() => b.got.length > 0, "B got it");
  return { r1, r2, a, b, m2 };
}

Deno.test("cluster: a Redis that stops answering (SIGSTOP): bytes waiting for it stay under MAX_CROSS_NODE_BYTES, the rest is busy at once", async () => {
  const redis = await startRedis();
  const { r1, r2, a, b } = await pair(redis);
  const envelope = new Uint8Array(60 * 1024);
  const offered = Math.ceil((3 * MAX_CROSS_NODE_BYTES) / envelope.length);
  const answers: Promise<string>[] = [];
  let peak = 0;
  Deno.kill(redis.pid(), "SIGSTOP");
  try {
    for (let i = 0; i < offered; i++) {
      answers.push(Promise.resolve(r1.route(a, b.id, envelope)).catch(() => "no answer"));
      peak = Math.max(peak, gauge(r1, "cluster_inflight_bytes"));
    }
    const got = await Promise.all(answers);
    const count = (s: string) => got.filter((g) => g === s).length;
    console.log(
      `SIGSTOP: ${offered} × 60 KiB offered; peak in flight ${peak} bytes; busy ${
        count("busy")
      }, no answer ${count("no answer")}`,
    );
    assertOk(peak <= MAX_CROSS_NODE_BYTES, `peak ${peak} within ${MAX_CROSS_NODE_BYTES}`);
    assertEquals(count("delivered"), 0, "nothing answered delivered by a stopped Redis");
    assertOk(count("busy") >= offered - MAX_CROSS_NODE_BYTES / envelope.length, "past it: busy");
    // The socket is open but Redis does not answer: the gauge says so once a heartbeat failed.
    await waitFor(() => gauge(r1, "cluster_up") === 0, "cluster_up 0", 3 * NODE_TTL_MS);
  } finally {
    Deno.kill(redis.pid(), "SIGCONT");
  }
  try {
    await waitFor(() => gauge(r1, "cluster_inflight_bytes") === 0, "the queue drains", 20_000);
    await waitFor(async () => await r1.route(a, b.id, Uint8Array.of(2)) === "delivered", "again");
  } finally {
    await Promise.allSettled([r1.close(), r2.close()]);
    await redis.stop();
  }
});

Deno.test("cluster: Redis gone: a cross-node SEND fails at once and keeps nothing queued; a login meanwhile is claimed when Redis is back", async () => {
  const redis = await startRedis();
  const { r1, r2, a, b } = await pair(redis);
  try {
    await redis.kill();
    await waitFor(() => !r1.redis.ready && !r2.redis.ready, "both see Redis gone");
    const envelope = new Uint8Array(60 * 1024);
    const got = await Promise.all(
      Array.from(
        { length: 200 },
        () => Promise.resolve(r1.route(a, b.id, envelope)).catch(() => "no answer"),
      ),
    );
    assertEquals(got.filter((g) => g === "delivered").length, 0);
    // node-redis would keep each command (and its envelope) until the reconnection.
    assertEquals(gauge(r1, "cluster_inflight_bytes"), 0, "nothing waits for Redis");
    // C logs in on n2 while Redis is down (a node serves known ids from its registry cache).
    const c = session();
    r2.attach(c);
    await waitFor(() => gauge(r2, "cluster_unclaimed_sessions") === 1, "C's claim failed");
    await redis.restart();
    await waitFor(() => gauge(r2, "cluster_unclaimed_sessions") === 0, "claimed again", 15_000);
    await waitFor(
      async () => await r1.route(a, c.id, Uint8Array.of(3)) === "delivered",
      "n1 finds C on n2",
      15_000,
    );
    await waitFor(() => c.got.length > 0, "C got it");
  } finally {
    await Promise.allSettled([r1.close(), r2.close()]);
    await redis.stop();
  }
});

Deno.test("cluster: a Redis back without the presence keys (expired during a long outage, or lost) — watchers on other nodes hear the ids online again", async () => {
  const redis = await startRedis();
  const { r1, r2, a, b } = await pair(redis);
  const heard: boolean[] = [];
  const watcher: SessionHandle = { ...a, presence: (_id, on) => void heard.push(on) };
  try {
    assertOk(r1.watch(watcher, [b.id], 10));
    await waitFor(() => heard.at(-1) === true, "A's watch: B online");
    // Redis dies and comes back empty: as after an outage longer than PRESENCE_TTL_MS, no
    // presence key is left (a restart with its AOF would have let them expire by now).
    await redis.kill();
    await Deno.remove(redis.dir, { recursive: true });
    await Deno.mkdir(redis.dir);
    await redis.restart();
    await waitFor(() => r1.redis.ready && r2.redis.ready, "both nodes back");
    // n1 asks again (it may hear "offline" first: the key is not there yet); n2 restores its
    // key at once and says so.
    await waitFor(() => heard.at(-1) === true && heard.length >= 1, "B online again for A", 10_000);
    await waitFor(
      async () => await r1.route(a, b.id, Uint8Array.of(7)) === "delivered",
      "and routed to",
      10_000,
    );
    console.log(`A's watch of B after Redis came back empty: ${heard.join(", ")}`);
    // The same, deterministically: B's key vanishes with Redis up (as if it expired); n2's
    // next refresh restores it and publishes B online, which corrects whatever n1 heard.
    const sub = createClient({ url: redis.url });
    await sub.connect();
    const events: string[] = [];
    await sub.subscribe(PRESENCE_CHANNEL, (m: string) => void events.push(m));
    try {
      await r1.redis.cmd.del(presenceKey(b.key));
      await waitFor(
        () => events.some((m) => m.startsWith(`1 ${b.key} n2 `)),
        "B published online again by n2's refresh",
        3 * PRESENCE_REFRESH_MS,
      );
      assertEquals(await r1.redis.cmd.exists(presenceKey(b.key)), 1, "B's key is back");
    } finally {
      await sub.quit().catch(() => {});
    }
  } finally {
    await Promise.allSettled([r1.close(), r2.close()]);
    await redis.stop();
  }
});

/**
 * A TCP proxy to Redis that can go silent towards the first connection that subscribes: bytes
 * from Redis to it are dropped, the connection stays up — the failure that brokers on Redis
 * have been seen to miss.
 */
function silencer(target: number) {
  const port = freePort();
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const state = { silent: false, subscribers: 0 };
  const conns: Deno.Conn[] = [];
  const pump = async (from: Deno.Conn, to: Deno.Conn, drop: (b: Uint8Array) => boolean) => {
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await from.read(buf).catch(() => null);
      if (n === null) break;
      if (drop(buf.subarray(0, n))) continue;
      await to.write(buf.slice(0, n)).catch(() => {});
    }
  };
  void (async () => {
    for await (const c of listener) {
      const up = await Deno.connect({ hostname: "127.0.0.1", port: target });
      conns.push(c, up);
      const conn = { subscriber: false, first: false };
      const look = (b: Uint8Array) => {
        if (!conn.subscriber && new TextDecoder().decode(b).toUpperCase().includes("SUBSCRIBE")) {
          conn.subscriber = true;
          conn.first = ++state.subscribers === 1;
        }
        return false;
      };
      void Promise.race([pump(c, up, look), pump(up, c, () => conn.first && state.silent)])
        .finally(() => {
          for (const x of [c, up]) {
            try {
              x.close();
            } catch { /* closed */ }
          }
        });
    }
  })().catch(() => {});
  return {
    port,
    state,
    close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

Deno.test("cluster: a subscription that goes silent is noticed by the inbox ping and renewed; delivery resumes", async () => {
  const redis = await startRedis();
  const proxy = silencer(redis.port);
  const m2 = new Metrics();
  const { r1, r2, a, b } = await pair(redis, `redis://127.0.0.1:${proxy.port}`, m2);
  try {
    proxy.state.silent = true;
    const t0 = Date.now();
    const before = b.got.length;
    // Published and "delivered" (Redis counts the silent subscriber) but lost at the relay, as
    // in a crash: the sending daemon resends from its outbox.
    await r1.route(a, b.id, Uint8Array.of(4));
    await waitFor(
      async () => {
        await r1.route(a, b.id, Uint8Array.of(5));
        return b.got.length > before;
      },
      "delivery through a renewed subscription",
      4 * (PING_DEAD_MS + 2 * HEARTBEAT_MS),
    );
    console.log(`silent subscription renewed; delivery resumed after ${Date.now() - t0} ms`);
    assertOk(m2.get("cluster_resubscribes_total") >= 1, "renewed");
    assertOk(gauge(r2, "cluster_inbox_ping_age_ms") < PING_DEAD_MS, "the ping comes back");
  } finally {
    await Promise.allSettled([r1.close(), r2.close()]);
    proxy.close();
    await redis.stop();
  }
});

Deno.test("cluster: a second live node with the same name is reported in the log", async () => {
  const redis = await startRedis();
  const r1 = await router(redis.url, "n1");
  const warned: string[] = [];
  const capture = { ...log, warn: (event: string) => void warned.push(event) };
  const twin = await ClusterRouter.start({
    url: redis.url,
    node: "n1",
    log: capture,
    metrics: new Metrics(),
  });
  try {
    assertEquals(warned.filter((w) => w === "cluster_node_name_in_use").length, 1, warned.join());
  } finally {
    await Promise.allSettled([r1.close(), twin.close()]);
    await redis.stop();
  }
});
