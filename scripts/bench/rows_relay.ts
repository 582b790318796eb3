/**
 * Relay throughput rows: `relay_1k_100x2`, `relay_1k_10x16` (schied relay against the bare
 * forwarder) and `python_seed_ratio` (schied relay against the Python seed relay), all from the
 * same interleaved rounds.
 *
 * Every server runs as its own process, started once; the clients of each are connected before
 * the first round (schied: LinkClient, the daemon's link, npm `ws` with TCP_NODELAY; bare and
 * Python: npm `ws` too). A shape is pairs × in flight per client: each client sends 1 KiB
 * envelopes to its partner, keeping that many sent and not yet received (no artificial window;
 * 2 and 16 are what daemons have on their link). Rounds are time-bounded and alternate the
 * servers' order; the value is envelopes received per second, median over rounds.
 *
 * @module
 */
import { alternate, closePeers, connectPeers, type Ctx, pairsOf, sleep } from "./_ctx.ts";
import { closedLoop } from "./_flows.ts";
import type { Peer } from "./_load.ts";
import { Scope } from "./_procs.ts";
import { ensurePythonSeed, startPythonSeed } from "./_python_seed.ts";
import { fmt, makeRow } from "./_rows.ts";
import {
  type BenchServer,
  LIFT_PER_IP,
  processCpuSeconds,
  startBare,
  startSchied,
} from "./_servers.ts";
import { type RowReport, summarize } from "./_stats.ts";

const SHAPES = [
  { name: "relay_1k_100x2", pairs: 100, window: 2, label: "100×2" },
  { name: "relay_1k_10x16", pairs: 10, window: 16, label: "10×16" },
] as const;

/** Per-round figures of one server at one shape. */
interface Series {
  rate: number[];
  cpuUsPerEnv: number[];
  errors: number;
  lost: number;
  framesPerRecord: number[];
}

async function measureShape(
  ctx: Ctx,
  servers: BenchServer[],
  shape: typeof SHAPES[number],
): Promise<Map<string, Series>> {
  const out = new Map<string, Series>();
  const peers = new Map<string, Peer[]>();
  try {
    for (const s of servers) {
      ctx.log(`${shape.name}: connecting ${2 * shape.pairs} clients to ${s.name}`);
      peers.set(s.name, await connectPeers(s, 2 * shape.pairs));
      out.set(s.name, { rate: [], cpuUsPerEnv: [], errors: 0, lost: 0, framesPerRecord: [] });
    }
    const o = { size: 1024, window: shape.window, seconds: ctx.roundS };
    for (const s of servers) {
      await closedLoop(pairsOf(peers.get(s.name)!), { ...o, seconds: ctx.quick ? 0.5 : 1 });
    }
    for (let round = 1; round <= ctx.rounds; round++) {
      for (const s of alternate(servers, round)) {
        const series = out.get(s.name)!;
        const before = await s.counters();
        const cpu0 = await processCpuSeconds(s.pid);
        const r = await closedLoop(pairsOf(peers.get(s.name)!), o);
        const cpu1 = await processCpuSeconds(s.pid);
        const after = await s.counters();
        series.rate.push(r.perSecond);
        series.errors += r.errors;
        series.lost += r.lost;
        if (cpu0 !== null && cpu1 !== null) {
          series.cpuUsPerEnv.push(((cpu1 - cpu0) * 1e6) / Math.max(1, r.sent));
        }
        if (before && after) {
          const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
          series.framesPerRecord.push(d("frames_received_total") / d("records_received_total"));
        }
        ctx.log(`${shape.name} round ${round}: ${s.name} ${fmt(r.perSecond)} env/s`);
        await sleep(50);
      }
    }
  } finally {
    for (const p of peers.values()) await closePeers(p);
  }
  return out;
}

function describe(name: string, s: Series): string {
  const cpu = summarize(s.cpuUsPerEnv).median;
  const fpr = s.framesPerRecord.length
    ? `, ${fmt(summarize(s.framesPerRecord).median)} frames per inbound record`
    : "";
  const bad = s.errors + s.lost > 0 ? `, ${s.errors} errors, ${s.lost} lost` : "";
  return `${name} ${fmt(summarize(s.rate).median)} env/s, ${
    fmt(cpu)
  } µs server CPU/env${fpr}${bad}`;
}

/** Runs the relay throughput rows that `ctx` wants; servers are stopped before it returns. */
export async function relayThroughputRows(ctx: Ctx): Promise<RowReport[]> {
  const wantShape = SHAPES.filter((s) => ctx.want(s.name));
  const wantPython = ctx.want("python_seed_ratio");
  if (wantShape.length === 0 && !wantPython) return [];
  const scope = new Scope();
  const reports: RowReport[] = [];
  try {
    const servers: BenchServer[] = [];
    if (wantShape.length) servers.push(scope.server(await startBare(ctx.maxLifeS)));
    servers.push(scope.server(await startSchied(LIFT_PER_IP)));
    let pythonWhyNot: string | null = null;
    if (wantPython) {
      pythonWhyNot = ctx.pythonWhyNot !== undefined
        ? ctx.pythonWhyNot
        : await ensurePythonSeed(ctx.log);
      if (pythonWhyNot === null) {
        try {
          servers.push(scope.server(await startPythonSeed(ctx.maxLifeS)));
        } catch (e) {
          pythonWhyNot = `the Python seed relay did not start: ${(e as Error).message}`;
        }
      }
    }
    const ratios: { label: string; ratios: number[]; median: number; note: string }[] = [];
    for (const shape of SHAPES) {
      const run = servers.filter((s) =>
        s.name === "schied" || (s.name === "bare" && ctx.want(shape.name)) ||
        (s.name === "python" && wantPython)
      );
      if (!ctx.want(shape.name) && !run.some((s) => s.name === "python")) continue;
      const m = await measureShape(ctx, run, shape);
      const schied = m.get("schied")!, bare = m.get("bare"), py = m.get("python");
      if (ctx.want(shape.name) && bare) {
        reports.push(makeRow(shape.name, {
          value: summarize(schied.rate),
          reference: summarize(bare.rate),
          notes: [
            `${shape.pairs} pairs, 1 KiB, ${shape.window} in flight per client, ` +
            `${ctx.rounds} × ${ctx.roundS} s rounds`,
            describe("schied", schied),
            describe("bare", bare),
          ],
        }));
        if (shape.name === "relay_1k_100x2") {
          ctx.capacity.relay1k100x2 = summarize(schied.rate).median;
        }
      }
      if (py) {
        // Paired by round (the two ran back to back), so a noisy moment hits both sides.
        const per = schied.rate.map((x, i) => x / py.rate[i]!);
        const median = summarize(per).median;
        ratios.push({
          label: shape.label,
          ratios: per,
          median,
          note: `${shape.label}: ${fmt(median)}× (median of per-round ratios; ` +
            `${describe("schied", schied)}; ${describe("python", py)})`,
        });
      }
    }
    if (wantPython) reports.push(pythonRow(ratios, pythonWhyNot));
  } finally {
    await scope.close();
  }
  return reports;
}

function pythonRow(
  ratios: { label: string; ratios: number[]; median: number; note: string }[],
  whyNot: string | null,
): RowReport {
  if (whyNot !== null || ratios.length < 2) {
    return makeRow("python_seed_ratio", {
      value: null,
      met: false,
      notes: [whyNot ?? "the Python seed relay was not measured at both shapes"],
    });
  }
  const worst = ratios.reduce((a, b) => (b.median < a.median ? b : a));
  return makeRow("python_seed_ratio", {
    value: summarize(worst.ratios),
    ratio: worst.median,
    met: ratios.every((r) => r.median >= 2.5),
    notes: [
      `value: the lower of the two shapes (${worst.label}), its rounds' ratios`,
      ...ratios.map((r) => r.note),
    ],
  });
}
