/**
 * Issue 11, end to end with processes: three relay nodes on one Redis, daemons on different
 * nodes. 2,000 messages each way between a daemon on n1 and one on n2 arrive in order, once
 * each; a daemon that moves from n2 to n3 takes its messages with it, and its contact's watch
 * sees it online again; a login on n3 of an id still on n2 closes the n2 session as `replaced`.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { connectClient, newKeys, waitFor } from "../harness.ts";
import { collectEvents } from "../daemon_harness.ts";
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

const N = 2000;

Deno.test("cluster e2e: 2,000 messages each way between daemons on n1 and n2, in order, exactly once", async () => {
  const c = await startCluster(3);
  const ds = [];
  try {
    const a = await daemonOn([c.address(0)]);
    ds.push(a);
    const b = await daemonOn([c.address(1)]);
    ds.push(b);
    await befriend(a, b);
    const ab = texts("a→b", N), ba = texts("b→a", N);
    const t0 = Date.now();
    const [idsAb, idsBa] = await Promise.all([sendAll(a, b.id, ab), sendAll(b, a.id, ba)]);
    await Promise.all([
      waitDelivered(a, b.id, idsAb, 90_000),
      waitDelivered(b, a.id, idsBa, 90_000),
    ]);
    const ms = Date.now() - t0;
    console.log(`${2 * N} messages across nodes in ${ms} ms (${Math.round(2 * N / ms * 1000)}/s)`);
    await assertExactlyOnce(a, b, ab);
    await assertExactlyOnce(b, a, ba);
    // They really went through Redis: n1 and n2 each sent and received cross-node frames.
    for (const i of [0, 1]) {
      assertOk(await metric(c.nodes[i]!, "schied_cluster_frames_sent_total") >= N, `n${i + 1}`);
      assertOk(await metric(c.nodes[i]!, "schied_cluster_frames_received_total") >= N);
    }
    for (let i = 0; i < 3; i++) assertOk(!c.exited(i), `n${i + 1} still running`);
  } finally {
    await Promise.allSettled(ds.map((d) => d.stop()));
    await c.stop();
  }
});

Deno.test("cluster e2e: B moves from n2 to n3: messages follow B, A's watch sees B online again", async () => {
  const c = await startCluster(3);
  const ds = [];
  try {
    const a = await daemonOn([c.address(0)]);
    ds.push(a);
    let b = await daemonOn([c.address(1)]);
    ds.push(b);
    await befriend(a, b);
    const ev = collectEvents(a);
    const presence = () =>
      ev.events.flatMap((e) => e.type === "presence" && e.data.id === b.id ? [e.data.online] : []);
    const online = async () => (await a.api.contacts()).find((x) => x.id === b.id)?.online === true;
    await waitFor(online, "A sees B online on n2", 10_000);
    const first = texts("before", 20);
    await waitDelivered(a, b.id, await sendAll(a, b.id, first), 20_000);

    // B's daemon stops and starts again with n3's address (same state dir, same id).
    const seen = presence().length;
    assertEquals(await b.stop(), 0);
    ds.pop();
    await waitFor(() => presence().slice(seen).includes(false), "A sees B go offline", 10_000);
    const meanwhile = texts("meanwhile", 20);
    const idsMeanwhile = await sendAll(a, b.id, meanwhile);
    const t0 = Date.now();
    b = await daemonOn([c.address(2)], { stateDir: b.stateDir });
    ds.push(b);
    await waitFor(
      () => presence().slice(seen).at(-1) === true,
      "A's watch reports B online again (on n3)",
      10_000,
    );
    console.log(`B back online at A ${Date.now() - t0} ms after B's restart on n3`);
    assertOk(await online(), "the contact list says online too");
    await waitDelivered(a, b.id, idsMeanwhile, 30_000);
    const after = texts("after", 20);
    await waitDelivered(a, b.id, await sendAll(a, b.id, after), 20_000);
    const back = texts("reply", 20);
    await waitDelivered(b, a.id, await sendAll(b, a.id, back), 20_000);
    await assertExactlyOnce(a, b, [...first, ...meanwhile, ...after]);
    await assertExactlyOnce(b, a, back);
    // n3 carried the later frames.
    assertOk(await metric(c.nodes[2]!, "schied_cluster_frames_received_total") >= 40, "via n3");
    // A login on n3 while the same id is still on n2 takes it over: n2's session is `replaced`.
    const keys = await newKeys();
    const x2 = await connectClient(c.address(1), keys);
    const x3 = await connectClient(c.address(2), keys);
    assertEquals((await x2.closed()).code, "replaced", "the session on n2");
    await x3.close();
    ev.stop();
  } finally {
    await Promise.allSettled(ds.map((d) => d.stop()));
    await c.stop();
  }
});
