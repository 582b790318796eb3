/**
 * Helpers of the cluster end-to-end tests (issue 11, tests/e2e/cluster_*_test.ts): relay nodes as
 * real `schied relay --cluster … --node-name nX` processes on one private redis-server, daemons
 * as real `schied daemon` processes. Every node gets the same relay key (its key file is written
 * into each state dir before start), so a daemon's address list differs only by port. Waits are
 * on conditions; every loop is bounded in count and time; only processes started here are
 * stopped, by their own handles.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { toBase64Url } from "../../protocol/bytes.ts";
import { RELAY_KEY_FILE } from "../../relay/state.ts";
import { freePort, type RelayProcess, startRelayProcess, waitFor } from "../harness.ts";
import { type DaemonProcess, startDaemonProcess, waitOnline } from "../daemon_harness.ts";
import { startRedis, type TestRedis } from "../relay/_redis.ts";
import type { MessageRecord } from "../../api/client.ts";

export { startRedis, type TestRedis };

/** A cluster of relay node processes on one test Redis. */
export interface Cluster {
  redis: TestRedis;
  /** The nodes, index 0 = n1; replaced in place by `restart`. */
  nodes: RelayProcess[];
  /** Node i's address (stable across restarts: same port, same key). */
  address(i: number): string;
  /** True once node i's current process has exited (a crash, or a kill by the test). */
  exited(i: number): boolean;
  /** Starts node i again on its port and state dir (after a kill). */
  restart(i: number): Promise<RelayProcess>;
  /** Stops every node still running (SIGCONT first, in case one was stopped) and Redis. */
  stop(): Promise<void>;
}

/** Starts `n` nodes n1…nN with one relay key, on a new test Redis (or `redis`). */
export async function startCluster(n: number, o: { redis?: TestRedis } = {}): Promise<Cluster> {
  const redis = o.redis ?? await startRedis();
  const key = toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
  const dirs: string[] = [];
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const dir = await Deno.makeTempDir({ prefix: `schied-node${i + 1}-` });
    await Deno.writeTextFile(`${dir}/${RELAY_KEY_FILE}`, key + "\n", { mode: 0o600 });
    dirs.push(dir);
    ports.push(freePort());
  }
  const gone = new Set<RelayProcess>();
  const start = async (i: number) => {
    const p = await startRelayProcess({
      stateDir: dirs[i],
      port: ports[i],
      args: ["--cluster", redis.url, "--node-name", `n${i + 1}`, "--quiet"],
    });
    void p.exited.then(() => gone.add(p));
    return p;
  };
  const nodes = await Promise.all(dirs.map((_, i) => start(i)));
  assertEquals(new Set(nodes.map((p) => p.address.split("#")[1])).size, 1, "one relay key");
  // Formed: each node has seen every other's heartbeat (a node that joined less than a heartbeat
  // ago is not yet known to the others: a watch answered then says "offline" until their next
  // heartbeat asks again), so that the tests start from a settled cluster.
  await waitFor(
    async () =>
      (await Promise.all(nodes.map((p) => metric(p, "schied_cluster_nodes_alive"))))
        .every((v) => v === n),
    `${n} nodes alive on every node`,
    10_000,
  );
  return {
    redis,
    nodes,
    address: (i) => nodes[i]!.address,
    exited: (i) => gone.has(nodes[i]!),
    async restart(i) {
      return nodes[i] = await start(i);
    },
    async stop() {
      await Promise.allSettled(nodes.map(async (p) => {
        if (gone.has(p)) return;
        p.kill("SIGCONT");
        await p.stop();
      }));
      if (!o.redis) await redis.stop();
      await Promise.allSettled(dirs.map((d) => Deno.remove(d, { recursive: true })));
    },
  };
}

/** A gauge or counter of a node's /metrics (NaN if absent). */
export async function metric(node: RelayProcess, name: string): Promise<number> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), 1000);
  try {
    const text = await (await fetch(`${node.metrics}/metrics`, { signal: ac.signal })).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name} `));
    return line ? Number(line.split(" ")[1]) : NaN;
  } catch {
    return NaN;
  } finally {
    clearTimeout(t);
  }
}

/** A daemon on the relays `addresses` (in order of preference), online. */
export async function daemonOn(
  addresses: string[],
  o: { stateDir?: string } = {},
): Promise<DaemonProcess> {
  const d = await startDaemonProcess({
    stateDir: o.stateDir,
    args: addresses.flatMap((a) => ["--relay", a]),
  });
  await waitOnline(d);
  return d;
}

/** True while `d` is online on `address`. */
export async function onRelay(d: DaemonProcess, address: string): Promise<boolean> {
  const s = await d.api.status().catch(() => undefined);
  return s?.relay.state === "online" && s.relay.address === address;
}

/** Makes A and B each other's contacts. */
export async function befriend(a: DaemonProcess, b: DaemonProcess): Promise<void> {
  await a.api.addContact({ id: b.id });
  await b.api.addContact({ id: a.id });
}

/** Sends `texts` from `d` to `to` one after the other (each accepted before the next). */
export async function sendAll(d: DaemonProcess, to: string, texts: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < texts.length && i < 100_000; i++) {
    ids.push((await d.api.send({ to, text: texts[i]! })).id);
  }
  return ids;
}

/** Every message of `d` with `peer`, oldest first (paged; bounded). */
export async function conversation(d: DaemonProcess, peer: string): Promise<MessageRecord[]> {
  const all: MessageRecord[] = [];
  let since = 0;
  for (let page = 0; page < 1000; page++) {
    const got = await d.api.messages({ with: peer, since, limit: 1000 });
    all.push(...got);
    if (got.length < 1000) return all;
    since = got.at(-1)!.event_id;
  }
  throw new Error("more than a million messages");
}

/** Waits until every message in `ids` (sent by `d`) is delivered. */
export async function waitDelivered(
  d: DaemonProcess,
  peer: string,
  ids: string[],
  timeoutMs: number,
): Promise<void> {
  const want = new Set(ids);
  let left = want.size;
  await waitFor(
    async () => {
      const out = (await conversation(d, peer)).filter((m) => want.has(m.id));
      left = want.size - out.filter((m) => m.status === "delivered").length;
      return left === 0;
    },
    `${ids.length} messages delivered`,
    timeoutMs,
  ).catch((e) => {
    throw new Error(`${(e as Error).message}: ${left} of ${ids.length} not delivered`);
  });
}

/**
 * Checks that `receiver` holds exactly `texts` from `sender`, once each, in sending order with
 * strictly increasing seq, and that `sender` has each of them `delivered`.
 */
export async function assertExactlyOnce(
  sender: DaemonProcess,
  receiver: DaemonProcess,
  texts: string[],
): Promise<void> {
  const want = new Set(texts);
  const got = (await conversation(receiver, sender.id)).filter((m) =>
    m.direction === "in" && want.has(m.text)
  );
  assertEquals(got.length, texts.length, `${receiver.id} got each message once`);
  assertEquals(got.map((m) => m.text), texts, "in sending order");
  for (let i = 1; i < got.length; i++) {
    assertOk(got[i]!.seq > got[i - 1]!.seq, `seq increases at ${i}: ${got[i]!.seq}`);
  }
  const out = (await conversation(sender, receiver.id)).filter((m) =>
    m.direction === "out" && want.has(m.text)
  );
  assertEquals(out.length, texts.length, "the sender holds each once");
  const notDelivered = out.filter((m) => m.status !== "delivered");
  assertEquals(notDelivered.length, 0, `all delivered at ${sender.id}`);
}

/** Texts `prefix-0` … `prefix-(n-1)`. */
export function texts(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
}
