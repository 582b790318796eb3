/**
 * Issue 11, end to end with processes: the cluster's Redis dies (`kill -9`) and comes back on
 * the same port and dir (AOF). No node process exits; delivery resumes by itself within 2 s of
 * the restart; the registry is intact (a node that never saw an id answers its key, and that
 * id's next login is `known`); what daemons sent meanwhile ends delivered, exactly once.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { connectClient, newKeys, waitFor } from "../harness.ts";
import { formatId } from "../../protocol/identity.ts";
import {
  assertExactlyOnce,
  befriend,
  daemonOn,
  metric,
  sendAll,
  startCluster,
  texts,
  waitDelivered,
} from "./_cluster.ts";
import type { DaemonProcess } from "../daemon_harness.ts";

/** The bound: from Redis's restart to the first message sent after it delivered. */
const RESUME_BOUND_MS = 2000;

async function keyOf(http: string, id: string): Promise<{ status: number; key?: string }> {
  const r = await fetch(`${http}/v1/keys/${id}`);
  const body = await r.json();
  return { status: r.status, key: body.public_key };
}

Deno.test("cluster e2e: Redis kill -9 and restart: delivery resumes within 2 s, registry intact, no node exits", async () => {
  const c = await startCluster(2);
  const ds: DaemonProcess[] = [];
  try {
    const a = await daemonOn([c.address(0)]);
    ds.push(a);
    let b = await daemonOn([c.address(1)]);
    ds.push(b);
    await befriend(a, b);
    await waitDelivered(a, b.id, await sendAll(a, b.id, ["before"]), 20_000);
    await waitDelivered(b, a.id, await sendAll(b, a.id, ["before"]), 20_000);
    // C registers on n1 only (n2 never looks it up before the restart).
    const cKeys = await newKeys();
    const c1 = await connectClient(c.address(0), cKeys);
    assertOk(c1.welcome.registered, "C registered");
    const cId = formatId(c1.id);
    await c1.close();
    const cKey = await keyOf(c.nodes[0]!.http, cId);
    assertEquals(cKey.status, 200);

    await c.redis.kill();
    await waitFor(
      async () =>
        await metric(c.nodes[0]!, "schied_cluster_up") === 0 &&
        await metric(c.nodes[1]!, "schied_cluster_up") === 0,
      "both nodes see Redis down",
      5000,
    );
    const during = texts("during", 10);
    const idsDuring = await sendAll(a, b.id, during);
    assertOk(!c.exited(0) && !c.exited(1), "no node exited while Redis is down");

    await c.redis.restart();
    const t0 = performance.now();
    // Measured, then checked at the end (the registry checks below do not depend on it).
    const first = await sendAll(b, a.id, ["first after the restart"]);
    await waitDelivered(b, a.id, first, 40_000);
    const resumed = Math.round(performance.now() - t0);
    console.log(`delivery resumed ${resumed} ms after Redis's restart (bound ${RESUME_BOUND_MS})`);
    await waitDelivered(a, b.id, idsDuring, 40_000);
    const late = Math.round(performance.now() - t0);
    console.log(`messages sent during the outage delivered ${late} ms after the restart`);

    // The registry survived: n2 answers C's key from Redis; C's next login there is known.
    assertEquals(await keyOf(c.nodes[1]!.http, cId), cKey, "C's key, on a node that never saw it");
    const c2 = await connectClient(c.address(1), cKeys);
    assertEquals(c2.welcome.registered, false, "C logs in as known");
    await c2.close();
    // B's daemon logs in again after a restart of its own (its id is known, not a conflict).
    assertEquals(await b.stop(), 0);
    ds.pop();
    b = await daemonOn([c.address(1)], { stateDir: b.stateDir });
    ds.push(b);
    await waitDelivered(a, b.id, await sendAll(a, b.id, ["after"]), 20_000);

    await assertExactlyOnce(a, b, ["before", ...during, "after"]);
    await assertExactlyOnce(b, a, ["before", "first after the restart"]);
    for (const i of [0, 1]) {
      assertOk(!c.exited(i), `n${i + 1} never exited`);
      // Up once a heartbeat went through since the reconnection (the first is sent at once).
      await waitFor(
        async () => await metric(c.nodes[i]!, "schied_cluster_up") === 1,
        `n${i + 1} up`,
        5000,
      );
      assertOk(await metric(c.nodes[i]!, "schied_cluster_inbox_ping_age_ms") < 3000, "pinged");
    }
    assertEquals(
      { resumed: resumed <= RESUME_BOUND_MS, outbox: late <= RESUME_BOUND_MS + 3000 },
      { resumed: true, outbox: true },
      `within ${RESUME_BOUND_MS} ms: first ${resumed} ms; the outage's messages ${late} ms`,
    );
  } finally {
    await Promise.allSettled(ds.map((d) => d.stop()));
    await c.stop();
  }
});
