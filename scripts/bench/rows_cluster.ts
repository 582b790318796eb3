/**
 * The cluster row (issue 11): `cluster_cross_node`, envelopes per second between clients on two
 * different relay nodes of one cluster (`schied relay --cluster redis://… --node-name nX`, each
 * its own process, on a private redis-server this row starts and stops), against a single relay
 * in the same run, at relay_1k_100x2's shape: 100 pairs, 1 KiB envelopes, 2 in flight per
 * client, clients as relay_bench's (LinkClient, the daemon's link). In every pair one client is
 * on n1 and its partner on n2, so every envelope crosses nodes through Redis (both directions:
 * the same closed loop as the single relay's). Rounds alternate the two; the value is the
 * median over rounds.
 *
 * @module
 */
import { connectClient, startRelayProcess, waitFor } from "../../tests/harness.ts";
import { startRedis } from "../../tests/relay/_redis.ts";
import { alternate, closePeers, connectPeers, type Ctx, pairsOf, sleep } from "./_ctx.ts";
import { closedLoop } from "./_flows.ts";
import type { Peer } from "./_load.ts";
import { bounded, Scope, track } from "./_procs.ts";
import { fmt, makeRow } from "./_rows.ts";
import {
  type BenchClient,
  type BenchServer,
  LIFT_PER_IP,
  LIFT_PER_SESSION,
  processCpuSeconds,
  startSchied,
} from "./_servers.ts";
import { type RowReport, summarize } from "./_stats.ts";

const PAIRS = 100, WINDOW = 2, SIZE = 1024;

/** One cluster node as a BenchServer (its clients connect to it). */
async function startNode(scope: Scope, redisUrl: string, name: string): Promise<BenchServer> {
  const relay = await startRelayProcess({
    args: [
      ...LIFT_PER_SESSION,
      ...LIFT_PER_IP,
      "--quiet",
      "--cluster",
      redisUrl,
      "--node-name",
      name,
    ],
  });
  const server: BenchServer = {
    name,
    pid: relay.child.pid,
    connect: (onPayload) => connectLink(relay.address, onPayload),
    async counters() {
      const text = await (await fetch(`${relay.metrics}/metrics`)).text();
      const out: Record<string, number> = {};
      for (const m of text.matchAll(/^schied_(\w+) ([\d.]+)$/gm)) out[m[1]!] = Number(m[2]);
      return out;
    },
    async stop() {
      await relay.stop();
      await Deno.remove(relay.stateDir, { recursive: true }).catch(() => {});
    },
    kill: () => relay.kill("SIGKILL"),
  };
  return scope.server(server);
}

/** A LinkClient as a BenchClient (as _servers.ts's startSchied), on `address`. */
async function connectLink(
  address: string,
  onPayload: (payload: Uint8Array) => void,
): Promise<BenchClient> {
  let failures = 0;
  const link = await connectClient(address, { onDeliver: (_from, env) => onPayload(env) });
  return {
    id: link.id,
    get failures() {
      return failures;
    },
    get unanswered() {
      return link.inFlight;
    },
    send(to, payload) {
      link.send(to, payload).then((r) => {
        if (r.status !== "delivered") failures++;
      });
    },
    close: async () => void await link.close(),
  };
}

interface Series {
  rate: number[];
  errors: number;
  lost: number;
  cpuUsPerEnv: number[];
}

/** Runs `cluster_cross_node` if `ctx` wants it; every process is stopped before it returns. */
export async function clusterRows(ctx: Ctx): Promise<RowReport[]> {
  if (!ctx.want("cluster_cross_node")) return [];
  const scope = new Scope();
  const peers: Peer[][] = [];
  try {
    const redis = await startRedis();
    const untrack = track(() => void redis.kill());
    scope.defer(async () => {
      await bounded(redis.stop(), 10_000).catch(() => redis.kill());
      untrack();
    });
    const single = scope.server(await startSchied(LIFT_PER_IP));
    const n1 = await startNode(scope, redis.url, "n1");
    const n2 = await startNode(scope, redis.url, "n2");
    await waitFor(
      async () =>
        (await n1.counters())?.cluster_nodes_alive === 2 &&
        (await n2.counters())?.cluster_nodes_alive === 2,
      "both nodes alive for each other",
      15_000,
    );
    ctx.log(`cluster_cross_node: connecting ${2 * PAIRS} clients to a single relay`);
    const singlePeers = await connectPeers(single, 2 * PAIRS);
    peers.push(singlePeers);
    ctx.log(`cluster_cross_node: connecting ${PAIRS} clients to n1 and ${PAIRS} to n2`);
    const on1 = await connectPeers(n1, PAIRS);
    peers.push(on1);
    const on2 = await connectPeers(n2, PAIRS);
    peers.push(on2);
    const shapes = [
      { name: "single", pairs: pairsOf(singlePeers), pids: [single.pid] },
      {
        name: "cluster",
        pairs: on1.map((p, i) => [p, on2[i]!] as [Peer, Peer]),
        pids: [n1.pid, n2.pid, redis.pid()],
      },
    ];
    const o = { size: SIZE, window: WINDOW, seconds: ctx.roundS };
    // Warm-up: JIT, and each node learns where the other's clients are.
    for (const s of shapes) await closedLoop(s.pairs, { ...o, seconds: ctx.quick ? 0.5 : 1 });
    const out = new Map<string, Series>(
      shapes.map((s) => [s.name, { rate: [], errors: 0, lost: 0, cpuUsPerEnv: [] }]),
    );
    const cpu = async (pids: number[]) => {
      const xs = await Promise.all(pids.map(processCpuSeconds));
      return xs.some((x) => x === null) ? null : xs.reduce((a, b) => a! + b!, 0)!;
    };
    const f0 = (await n1.counters())?.cluster_frames_received_total ?? 0;
    for (let round = 1; round <= ctx.rounds; round++) {
      for (const s of alternate(shapes, round)) {
        const series = out.get(s.name)!;
        const c0 = await cpu(s.pids);
        const r = await closedLoop(s.pairs, o);
        const c1 = await cpu(s.pids);
        series.rate.push(r.perSecond);
        series.errors += r.errors;
        series.lost += r.lost;
        if (c0 !== null && c1 !== null) {
          series.cpuUsPerEnv.push(((c1 - c0) * 1e6) / Math.max(1, r.sent));
        }
        ctx.log(`cluster_cross_node round ${round}: ${s.name} ${fmt(r.perSecond)} env/s`);
        await sleep(50);
      }
    }
    const crossed = ((await n1.counters())?.cluster_frames_received_total ?? 0) - f0;
    const c = out.get("cluster")!, one = out.get("single")!;
    const describe = (what: string, s: Series) =>
      `${what} ${fmt(summarize(s.rate).median)} env/s, ${
        fmt(summarize(s.cpuUsPerEnv).median)
      } µs CPU/env` + (s.errors + s.lost > 0 ? `, ${s.errors} errors, ${s.lost} lost` : "");
    return [makeRow("cluster_cross_node", {
      value: summarize(c.rate),
      reference: summarize(one.rate),
      notes: [
        `${PAIRS} pairs, each one client on n1 and one on n2, 1 KiB, ${WINDOW} in flight per ` +
        `client, ${ctx.rounds} × ${ctx.roundS} s rounds; reference: a single relay, same shape`,
        describe("cluster (CPU: both nodes and redis-server)", c),
        describe("single relay", one),
        `n1 received ${fmt(crossed)} frames through Redis in the measured rounds`,
      ],
    })];
  } finally {
    for (const p of peers) await closePeers(p);
    await scope.close();
  }
}
