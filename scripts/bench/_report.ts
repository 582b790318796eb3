/**
 * The human-readable report of the relay benchmark: environment, parameters, one row per server
 * and round, the schied/bare ratios, and the caveats that make the figures honest.
 *
 * @module
 */
import type { BenchParams, ServerRun, summarize } from "./relay_bench.ts";

function fixed(n: number | null, digits: number): string {
  return n === null || !Number.isFinite(n) ? "—" : n.toFixed(digits);
}

function pad(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
}

/** Prints the report on stdout. */
export function printTable(
  env: { cores: number; cpu: string; deno: string; v8: string; os: string },
  p: BenchParams,
  runs: ServerRun[],
  s: ReturnType<typeof summarize>,
): void {
  const out: string[] = [];
  out.push(
    `Environment: ${env.cores} cores (${env.cpu}), Deno ${env.deno}, V8 ${env.v8}, ${env.os}`,
    `Workload:    ${p.pairs} pairs (${2 * p.pairs} clients), ${p.messages} envelopes of ` +
      `${p.size} B per sender, both directions, window ${p.window} in flight per direction ` +
      `(until received by the partner); warm-up ${p.warmup} per sender; idle: ${p.idle} ` +
      `ping-pong envelopes, 1 in flight; deadline ${p.deadlineS} s per phase`,
    "",
  );
  const head = [
    "server",
    "env/s",
    "MB/s",
    "load p50",
    "load p99",
    "idle p50",
    "idle p99",
    "srv CPU",
    "srv µs/env",
    "gen CPU",
    "errors",
  ];
  const rows = runs.map((r) => {
    const l = r.load;
    const note = l.timedOut ? ` TIMED OUT (${l.received}/${l.expected})` : "";
    return [
      `${r.server}${p.rounds > 1 ? ` #${r.round}` : ""}${note}`,
      fixed(l.perSecond, 0),
      fixed(l.mbPerSecond, 1),
      `${fixed(l.p50Ms, 2)} ms`,
      `${fixed(l.p99Ms, 2)} ms`,
      `${fixed(r.idle.p50Ms, 3)} ms`,
      `${fixed(r.idle.p99Ms, 3)} ms`,
      `${fixed(r.serverCpuS, 2)} s`,
      fixed(r.serverCpuS === null ? null : (r.serverCpuS * 1e6) / l.received, 1),
      `${fixed(r.generatorCpuS, 2)} s`,
      String(l.errors + r.idle.errors) + (r.idle.timedOut ? " (idle timed out)" : "") +
      (l.strays + r.idle.strays > 0 ? ` (${l.strays + r.idle.strays} strays)` : ""),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  out.push(pad(head, widths), widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows) out.push(pad(r, widths));
  out.push("");
  for (const r of runs) {
    if (!r.records) continue;
    out.push(
      `schied${p.rounds > 1 ? ` #${r.round}` : ""} link records during load: ` +
        `${r.records.in} in (${fixed(r.records.framesPerRecordIn, 1)} frames/record), ` +
        `${r.records.out} out (${fixed(r.records.framesPerRecordOut, 1)} frames/record)`,
    );
  }
  if (p.servers.length === 2) {
    const med = p.rounds > 1 ? ` (medians over ${p.rounds} rounds)` : "";
    out.push(
      `schied/bare throughput: ${fixed(s.throughputRatio, 3)}  ` +
        `(${fixed(s.schiedEnvelopesPerSecond, 0)} vs ${fixed(s.bareEnvelopesPerSecond, 0)} ` +
        `env/s; target >= 0.7)${med}`,
      `schied/bare latency: load p99 ×${fixed(s.loadP99Ratio, 2)}, ` +
        `idle p50 ×${fixed(s.idleP50Ratio, 2)}`,
    );
  }
  out.push(
    "",
    `Note: the load generator (all ${2 * p.pairs} clients) runs in this one process and ` +
      `competes with the server for the ${env.cores} cores; schied clients also seal and open ` +
      "AES-GCM records, so their generator CPU is higher. srv CPU is the server process's " +
      "user+system time during the load phase (from /proc), srv µs/env that per delivered " +
      "envelope: the generator-independent cost of the server. Under load, latency is mostly " +
      "queueing: about window / (per-direction rate), by Little's law.",
  );
  console.log(out.join("\n"));
}
