/**
 * Relay latency rows and the old windowed workload:
 *
 * - `relay_p99_5k`, `relay_p99_20k`: open loop, 5,000 and 20,000 1 KiB envelopes per second
 *   offered in total over 10 pairs (20 flows), whatever comes back; p99 of the end-to-end
 *   latency of every envelope sent in the round, schied relay against the bare forwarder.
 * - `relay_256b_window1000`: the benchmark's old default, 4 pairs, 256 B envelopes, 1,000 in
 *   flight per direction. No daemon produces it (a daemon's link carries one frame per record
 *   at realistic rates; this window packs hundreds into one): an extra row, without target.
 *
 * @module
 */
import { alternate, closePeers, connectPeers, type Ctx, pairsOf, sleep } from "./_ctx.ts";
import { closedLoop, type FlowResult, openLoop } from "./_flows.ts";
import type { Peer } from "./_load.ts";
import { Scope } from "./_procs.ts";
import { fmt, makeRow, type RowName } from "./_rows.ts";
import { type BenchServer, LIFT_PER_IP, startBare, startSchied } from "./_servers.ts";
import { type RowReport, summarize } from "./_stats.ts";

const P99 = [
  { name: "relay_p99_5k", rate: 5_000 },
  { name: "relay_p99_20k", rate: 20_000 },
] as const;

type Phase = (pairs: [Peer, Peer][]) => Promise<FlowResult>;

/** Interleaved rounds of `phase` on each server; per server, the rounds' results. */
async function rounds(
  ctx: Ctx,
  servers: BenchServer[],
  peers: Map<string, Peer[]>,
  label: string,
  phase: Phase,
  warmup: Phase,
): Promise<Map<string, FlowResult[]>> {
  const out = new Map(servers.map((s) => [s.name, [] as FlowResult[]]));
  for (const s of servers) await warmup(pairsOf(peers.get(s.name)!));
  for (let round = 1; round <= ctx.rounds; round++) {
    for (const s of alternate(servers, round)) {
      const r = await phase(pairsOf(peers.get(s.name)!));
      out.get(s.name)!.push(r);
      ctx.log(
        `${label} round ${round}: ${s.name} ${fmt(r.perSecond)} env/s, p50 ${fmt(r.p50Ms)} ms, ` +
          `p99 ${fmt(r.p99Ms)} ms`,
      );
      await sleep(50);
    }
  }
  return out;
}

function tail(name: string, rs: FlowResult[], open = true): string {
  const p50 = summarize(rs.map((r) => r.p50Ms)).median;
  const lost = rs.reduce((s, r) => s + r.lost, 0);
  const errors = rs.reduce((s, r) => s + r.errors, 0);
  const gap = Math.max(...rs.map((r) => r.maxTickGapMs));
  const achieved = summarize(rs.map((r) => r.sent / r.seconds)).median;
  const sender = open ? `, ${fmt(achieved)}/s sent, sender tick gap ≤ ${fmt(gap)} ms` : "";
  return `${name}: p50 ${fmt(p50)} ms, p99 ${fmt(summarize(rs.map((r) => r.p99Ms)).median)} ms, ` +
    `max ${fmt(Math.max(...rs.map((r) => r.maxMs)))} ms, ${lost} lost, ${errors} errors${sender}`;
}

/** Runs the latency rows and the windowed row that `ctx` wants. */
export async function relayLatencyRows(ctx: Ctx): Promise<RowReport[]> {
  const reports: RowReport[] = [];
  const p99 = P99.filter((p) => ctx.want(p.name));
  const window = ctx.want("relay_256b_window1000");
  if (p99.length === 0 && !window) return reports;
  const scope = new Scope();
  const peers = new Map<string, Peer[]>();
  try {
    const servers = [
      scope.server(await startBare(ctx.maxLifeS)),
      scope.server(await startSchied(LIFT_PER_IP)),
    ];
    for (const s of servers) peers.set(s.name, await connectPeers(s, 20));
    for (const p of p99) {
      const o = { size: 1024, rate: p.rate, seconds: ctx.roundS };
      const m = await rounds(
        ctx,
        servers,
        peers,
        p.name,
        (pairs) => openLoop(pairs, o),
        (pairs) => openLoop(pairs, { ...o, seconds: 0.5 }),
      );
      const [bare, schied] = [m.get("bare")!, m.get("schied")!];
      reports.push(makeRow(p.name as RowName, {
        value: summarize(schied.map((r) => r.p99Ms)),
        reference: summarize(bare.map((r) => r.p99Ms)),
        notes: [
          `open loop, ${fmt(p.rate)} env/s offered over 10 pairs, 1 KiB, ${ctx.rounds} × ` +
          `${ctx.roundS} s rounds; ratio = schied p99 / bare p99 (lower is better)`,
          tail("schied", schied),
          tail("bare", bare),
        ],
      }));
    }
    if (window) {
      const pick = (ps: Peer[]) => ps.slice(0, 8);
      const sub = new Map([...peers].map(([k, v]) => [k, pick(v)]));
      const o = { size: 256, window: 1000, seconds: ctx.roundS };
      const m = await rounds(
        ctx,
        servers,
        sub,
        "relay_256b_window1000",
        (pairs) => closedLoop(pairs, o),
        (pairs) => closedLoop(pairs, { ...o, seconds: 0.5 }),
      );
      const [bare, schied] = [m.get("bare")!, m.get("schied")!];
      reports.push(makeRow("relay_256b_window1000", {
        value: summarize(schied.map((r) => r.perSecond)),
        reference: summarize(bare.map((r) => r.perSecond)),
        notes: [
          "extra row, not what daemons produce: 4 pairs, 256 B, 1,000 in flight per direction " +
          "(the old default; the link packs hundreds of frames into one record)",
          tail("schied", schied, false),
          tail("bare", bare, false),
        ],
      }));
    }
  } finally {
    for (const p of peers.values()) await closePeers(p);
    await scope.close();
  }
  return reports;
}
