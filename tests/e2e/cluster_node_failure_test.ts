/**
 * Issue 11, end to end with processes: a relay node that dies (`kill -9`) or stops answering
 * (`SIGSTOP`). Its daemons, given several nodes (`--relay n2 --relay n3`), fail over to another
 * and, with the outbox, nothing is lost or duplicated. A stopped node is treated as dead by the
 * others within the heartbeat bound (schied_cluster_nodes_alive on their /metrics), and after
 * `SIGCONT` it is back without a restart.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { waitFor } from "../harness.ts";
import { collectEvents, type DaemonProcess } from "../daemon_harness.ts";
import { HEARTBEAT_MS, NODE_TTL_MS } from "../../relay/cluster/_liveness.ts";
import {
  assertExactlyOnce,
  befriend,
  type Cluster,
  daemonOn,
  metric,
  onRelay,
  sendAll,
  startCluster,
  texts,
  waitDelivered,
} from "./_cluster.ts";

/** A node silent for NODE_TTL_MS is dead at the next heartbeat of the others; slack for load. */
const DEAD_BOUND_MS = NODE_TTL_MS + HEARTBEAT_MS + 1500;
/** Failover of a daemon whose node died: the close is seen at once, the first retry ≤ 1.2 s. */
const FAILOVER_BOUND_MS = 10_000;

const alive = (c: Cluster, i: number) => metric(c.nodes[i]!, "schied_cluster_nodes_alive");

Deno.test("cluster e2e: kill -9 a node: its daemon fails over to another node, nothing lost or doubled", async () => {
  const c = await startCluster(3);
  const ds: DaemonProcess[] = [];
  try {
    const a = await daemonOn([c.address(0), c.address(2)]);
    ds.push(a);
    const b = await daemonOn([c.address(1), c.address(2)]);
    ds.push(b);
    assertOk(await onRelay(b, c.address(1)), "B on n2, its first");
    await befriend(a, b);
    const before = texts("before", 20);
    await waitDelivered(a, b.id, await sendAll(a, b.id, before), 20_000);

    // A sends a stream; n2 dies in its middle (frames in flight to n2 are lost at the relay).
    const stream = texts("stream", 200);
    const t0 = { ms: 0 };
    const sending = (async () => {
      const ids = await sendAll(a, b.id, stream.slice(0, 50));
      c.nodes[1]!.kill("SIGKILL");
      t0.ms = Date.now();
      ids.push(...await sendAll(a, b.id, stream.slice(50)));
      return ids;
    })();
    const fromB = texts("from-b", 100);
    const idsB = await sendAll(b, a.id, fromB);
    const ids = await sending;
    await c.nodes[1]!.exited;
    await waitFor(() => onRelay(b, c.address(2)), "B online on n3", FAILOVER_BOUND_MS);
    console.log(`B failed over n2 → n3 in ${Date.now() - t0.ms} ms`);
    await waitDelivered(a, b.id, ids, 60_000);
    await waitDelivered(b, a.id, idsB, 60_000);
    console.log(`everything delivered ${Date.now() - t0.ms} ms after the kill`);
    await assertExactlyOnce(a, b, [...before, ...stream]);
    await assertExactlyOnce(b, a, fromB);
    assertOk(await onRelay(a, c.address(0)), "A stayed on n1");
    assertOk(!c.exited(0) && !c.exited(2), "n1 and n3 still running");
  } finally {
    await Promise.allSettled(ds.map((d) => d.stop()));
    await c.stop();
  }
});

Deno.test("cluster e2e: SIGSTOP a node: dead for the others within the bound; SIGCONT: back without a restart", async () => {
  const c = await startCluster(3);
  const ds: DaemonProcess[] = [];
  try {
    const a = await daemonOn([c.address(0)]);
    ds.push(a);
    const b = await daemonOn([c.address(1)]);
    ds.push(b);
    await befriend(a, b);
    const ev = collectEvents(a);
    const presence = () =>
      ev.events.flatMap((e) => e.type === "presence" && e.data.id === b.id ? [e.data.online] : []);
    await waitFor(() => presence().at(-1) === true, "A sees B online", 10_000);
    await waitDelivered(a, b.id, await sendAll(a, b.id, ["hello"]), 20_000);

    const pid = c.nodes[1]!.child.pid;
    c.nodes[1]!.kill("SIGSTOP");
    const t0 = Date.now();
    await waitFor(
      async () => await alive(c, 0) === 2 && await alive(c, 2) === 2,
      "n1 and n3 count 2 nodes alive",
      DEAD_BOUND_MS + 2000,
    );
    const dead = Date.now() - t0;
    console.log(`n2 dead for n1 and n3 after ${dead} ms (NODE_TTL_MS ${NODE_TTL_MS})`);
    assertOk(dead <= DEAD_BOUND_MS, `dead within ${DEAD_BOUND_MS} ms, took ${dead}`);
    await waitFor(() => presence().at(-1) === false, "A's watch: B offline", 2000);
    const meanwhile = texts("meanwhile", 10);
    const idsMeanwhile = await sendAll(a, b.id, meanwhile);

    c.nodes[1]!.kill("SIGCONT");
    const t1 = Date.now();
    await waitFor(
      async () => await alive(c, 0) === 3 && await alive(c, 1) === 3 && await alive(c, 2) === 3,
      "3 nodes alive again on every node",
      DEAD_BOUND_MS,
    );
    console.log(`n2 alive again for every node ${Date.now() - t1} ms after SIGCONT`);
    assertEquals(c.nodes[1]!.child.pid, pid, "the same process");
    assertOk(!c.exited(1), "n2 was not restarted");
    // What should follow, checked together so that one failure does not hide the others.
    const after = texts("after", 10);
    const problems = (await Promise.allSettled([
      waitFor(() => presence().at(-1) === true, "A's watch: B online again", 5000),
      waitDelivered(a, b.id, idsMeanwhile, 10_000),
      sendAll(a, b.id, after).then((ids) => waitDelivered(a, b.id, ids, 10_000)),
    ])).flatMap((r) => r.status === "rejected" ? [String(r.reason)] : []);
    assertEquals(problems, [], "after SIGCONT");
    await assertExactlyOnce(a, b, ["hello", ...meanwhile, ...after]);
    ev.stop();
  } finally {
    await Promise.allSettled(ds.map((d) => d.stop()));
    await c.stop();
  }
});
