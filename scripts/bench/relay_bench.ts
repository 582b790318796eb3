/**
 * Relay benchmark: schied's relay against a bare Deno WebSocket forwarder, same workload.
 *
 * `deno task bench [--pairs 4] [--messages 20000] [--size 256] [--window 1000] [--idle 2000]
 * [--warmup 2000] [--deadline 60] [--rounds 3] [--only bare|schied] [--json]`
 *
 * Each server runs as its own process; the load generator (all clients) runs in this one. On a
 * small machine the generator competes with the server for CPU, and the schied clients do their
 * own AES-GCM work, so the generator's CPU time is reported next to the server's. Performance
 * is printed, never asserted. Every phase stops at its message count or its deadline, a
 * watchdog bounds the whole run, and child processes are killed on every exit path.
 *
 * @module
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { type Peer, type PhaseResult, runIdle, runLoad, settle } from "./_load.ts";
import {
  type BenchServer,
  commandText,
  processCpuSeconds,
  startBare,
  startSchied,
} from "./_servers.ts";
import { printTable } from "./_report.ts";

/** Benchmark parameters. */
export interface BenchParams {
  pairs: number;
  messages: number;
  size: number;
  window: number;
  idle: number;
  warmup: number;
  deadlineS: number;
  rounds: number;
  servers: ("bare" | "schied")[];
}

/** The result of one server in one round. */
export interface ServerRun {
  server: "bare" | "schied";
  round: number;
  load: PhaseResult;
  idle: PhaseResult;
  /** CPU seconds of the server process during the load phase (null off Linux). */
  serverCpuS: number | null;
  /** CPU seconds of this (generator) process during the load phase. */
  generatorCpuS: number;
  /** schied only: link records and frames during the load phase, from the relay's /metrics. */
  records:
    | { in: number; out: number; framesPerRecordIn: number; framesPerRecordOut: number }
    | null;
}

const live = new Set<BenchServer>();

function killAll(): void {
  for (const s of live) s.kill();
}

function parseParams(args: string[]): BenchParams & { json: boolean } {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      pairs: { type: "string", default: "4" },
      messages: { type: "string", default: "20000" },
      size: { type: "string", default: "256" },
      window: { type: "string", default: "1000" },
      idle: { type: "string", default: "2000" },
      warmup: { type: "string", default: "2000" },
      deadline: { type: "string", default: "60" },
      rounds: { type: "string", default: "3" },
      only: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(new URL(import.meta.url).pathname + "\n" + HELP);
    Deno.exit(0);
  }
  const int = (name: keyof typeof values, min: number, max: number): number => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new RangeError(`--${name} must be a whole number in ${min}..${max}`);
    }
    return n;
  };
  const only = values.only;
  if (only !== undefined && only !== "bare" && only !== "schied") {
    throw new RangeError("--only takes bare or schied");
  }
  return {
    pairs: int("pairs", 1, 256),
    messages: int("messages", 1, 10_000_000),
    size: int("size", 16, 65536),
    window: int("window", 1, 1_000_000),
    idle: int("idle", 1, 1_000_000),
    warmup: int("warmup", 0, 10_000_000),
    deadlineS: int("deadline", 1, 3600),
    rounds: int("rounds", 1, 100),
    servers: only ? [only] : ["bare", "schied"],
    json: values.json,
  };
}

const HELP =
  `  --pairs N      client pairs (default 4)       --messages N  envelopes per sender (20000)
  --size N       payload bytes, >= 16 (256)     --window N    in flight per direction (1000)
  --idle N       ping-pong envelopes (2000)     --warmup N    warm-up envelopes per sender (2000)
  --deadline S   hard limit per phase (60)      --rounds N    alternate the servers N times (3)
  --only NAME    bare or schied only            --json        one JSON object on stdout`;

async function benchServer(p: BenchParams, name: "bare" | "schied", round: number) {
  const deadlineMs = p.deadlineS * 1000;
  const server = name === "bare" ? await startBare(watchdogS(p)) : await startSchied();
  live.add(server);
  const peers: Peer[] = [];
  try {
    for (let i = 0; i < 2 * p.pairs; i++) {
      const peer: Peer = { client: undefined!, onPayload: () => {} };
      peer.client = await server.connect((payload) => peer.onPayload(payload));
      peers.push(peer);
    }
    const pairs = Array.from({ length: p.pairs }, (_, i) => [peers[2 * i]!, peers[2 * i + 1]!]) as [
      Peer,
      Peer,
    ][];
    const load = { size: p.size, window: p.window, deadlineMs };
    if (p.warmup > 0) await runLoad(pairs, { ...load, messages: p.warmup });
    await settle(peers, 10_000);
    const before = await server.counters();
    const cpu0 = await processCpuSeconds(server.pid);
    const gen0 = process.cpuUsage();
    const loadResult = await runLoad(pairs, { ...load, messages: p.messages });
    const gen = process.cpuUsage(gen0);
    const cpu1 = await processCpuSeconds(server.pid);
    await settle(peers, 10_000);
    const after = await server.counters();
    const idle = await runIdle(pairs[0]!, p.idle, p.size, deadlineMs);
    let records: ServerRun["records"] = null;
    if (before && after) {
      const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
      const framesIn = d("frames_received_total");
      const framesOut = d("envelopes_delivered_total") + framesIn; // DELIVERs + RESULTs
      records = {
        in: d("records_received_total"),
        out: d("records_sent_total"),
        framesPerRecordIn: framesIn / d("records_received_total"),
        framesPerRecordOut: framesOut / d("records_sent_total"),
      };
    }
    return {
      server: name,
      round,
      load: loadResult,
      idle,
      serverCpuS: cpu0 === null || cpu1 === null ? null : cpu1 - cpu0,
      generatorCpuS: (gen.user + gen.system) / 1e6,
      records,
    } satisfies ServerRun;
  } finally {
    await Promise.all(peers.map((x) => x.client.close()));
    await server.stop();
    live.delete(server);
  }
}

/** The whole run's time limit in seconds: every phase at its deadline, plus setup. */
function watchdogS(p: BenchParams): number {
  return p.rounds * p.servers.length * (3 * p.deadlineS + 120);
}

async function main(): Promise<void> {
  const p = parseParams(Deno.args);
  const watchdog = setTimeout(() => {
    console.error(`relay_bench: watchdog: no result after ${watchdogS(p)} s, giving up`);
    killAll();
    Deno.exit(3);
  }, watchdogS(p) * 1000);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => {
      killAll();
      Deno.exit(130);
    });
  }
  const runs: ServerRun[] = [];
  try {
    for (let round = 1; round <= p.rounds; round++) {
      // Alternate the order so neither server always runs on a warmer (or hotter) machine.
      const order = round % 2 === 1 ? p.servers : [...p.servers].reverse();
      for (const name of order) {
        if (!p.json) console.error(`relay_bench: round ${round}: ${name} …`);
        runs.push(await benchServer(p, name, round));
      }
    }
  } finally {
    clearTimeout(watchdog);
    killAll();
  }
  const env = {
    cores: navigator.hardwareConcurrency,
    cpu: await cpuModel(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    os: `${Deno.build.os}-${Deno.build.arch}`,
  };
  const { json: _, ...params } = p;
  if (p.json) console.log(JSON.stringify({ env, params, runs, summary: summarize(runs) }));
  else printTable(env, params, runs, summarize(runs));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]!;
}

/** Medians over rounds, and schied/bare ratios. */
export function summarize(runs: ServerRun[]) {
  const med = (name: string, f: (r: ServerRun) => number) =>
    median(runs.filter((r) => r.server === name).map(f));
  const rate = (n: string) => med(n, (r) => r.load.perSecond);
  return {
    bareEnvelopesPerSecond: rate("bare"),
    schiedEnvelopesPerSecond: rate("schied"),
    throughputRatio: rate("schied") / rate("bare"),
    loadP99Ratio: med("schied", (r) => r.load.p99Ms) / med("bare", (r) => r.load.p99Ms),
    idleP50Ratio: med("schied", (r) => r.idle.p50Ms) / med("bare", (r) => r.idle.p50Ms),
  };
}

async function cpuModel(): Promise<string> {
  const info = await commandText("cat", ["/proc/cpuinfo"]);
  return /^model name\s*:\s*(.*)$/m.exec(info ?? "")?.[1] ?? "unknown";
}

if (import.meta.main) {
  try {
    await main();
    Deno.exit(0);
  } catch (e) {
    killAll();
    // RangeError: a bad flag, where a stack trace would only be noise.
    console.error(`relay_bench: ${e instanceof RangeError ? e.message : (e as Error).stack ?? e}`);
    Deno.exit(1);
  }
}
