/**
 * The benchmark suite (`deno task bench`): every row of issue 8's Targets table with its
 * reference, measured in one run on this machine, printed as a markdown table and written to
 * scripts/bench/results/latest.json (`{"machine", "rows": [{name, value, unit, reference, ratio,
 * target, met}]}`; spreads and notes go to latest-details.json next to it).
 *
 * `deno task bench [--quick] [--only ROW[,ROW…]]`
 *
 * Each group of rows runs in a fresh process of this suite (_isolate.ts), so that no row
 * inherits the load generator's heap from the rows before it.
 *
 * Performance is printed, never asserted. Every round is time-bounded, every wait has a limit,
 * each group of rows has a time limit, a watchdog bounds the whole run, and every child process
 * is killed on every exit path (a row's scope, killAll on error, signal or watchdog).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { SCHIED } from "../../tests/harness.ts";
import type { Ctx } from "./_ctx.ts";
import { fdLimits, loadAverage, machineInfo } from "./_machine.ts";
import { bounded, killAll } from "./_procs.ts";
import { failedRow, markdown, ROW_NAMES, type RowName } from "./_rows.ts";
import { resultsProblems, type RowReport } from "./_stats.ts";
import { ensurePythonSeed } from "./_python_seed.ts";
import { readShared, runIsolated, writeOutcome } from "./_isolate.ts";
import { relayThroughputRows } from "./rows_relay.ts";
import { relayLatencyRows } from "./rows_latency.ts";
import { sessionRows } from "./rows_sessions.ts";
import { e2eRows } from "./rows_e2e.ts";
import { overloadRows } from "./rows_overload.ts";
import { clusterRows } from "./rows_cluster.ts";
import { fileRows } from "./rows_files.ts";

/** The permissions the suite runs with (the deno.json task line), for a re-exec. */
export const PERMISSIONS = [
  "--no-prompt",
  "--allow-net=127.0.0.1",
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
];

/** Groups of rows that share servers, in run order, with their time limits (full, quick). */
const GROUPS: {
  rows: RowName[];
  limitS: [number, number];
  run: (c: Ctx) => Promise<RowReport[]>;
}[] = [
  {
    rows: ["relay_1k_100x2", "relay_1k_10x16", "python_seed_ratio"],
    limitS: [170, 90],
    run: relayThroughputRows,
  },
  {
    rows: ["relay_p99_5k", "relay_p99_20k", "relay_256b_window1000"],
    limitS: [110, 50],
    run: relayLatencyRows,
  },
  { rows: ["logins_per_s", "idle_kib_5k"], limitS: [150, 80], run: sessionRows },
  { rows: ["e2e_throughput", "e2e_p99_500", "send_wall_ms"], limitS: [110, 60], run: e2eRows },
  { rows: ["overload_rss_growth"], limitS: [90, 70], run: overloadRows },
  { rows: ["cluster_cross_node"], limitS: [90, 60], run: clusterRows },
  { rows: ["file_throughput"], limitS: [150, 60], run: fileRows },
];

const RESULTS = new URL("./results/", import.meta.url).pathname;
/** Seconds a group's process may take to start, on top of its group's limit. */
const GROUP_START_S = 15;

interface Options {
  quick: boolean;
  only: Set<RowName> | null;
  /** Internal (_isolate.ts): run only this group, exchanging state through `groupIo`. */
  group?: number;
  groupIo?: string;
}

function parse(args: string[]): Options {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      help: { type: "boolean", short: "h" },
      group: { type: "string" },
      "group-io": { type: "string" },
    },
  });
  const group = values.group === undefined
    ? {}
    : { group: Number(values.group), groupIo: values["group-io"] };
  if (values.help) {
    console.log(
      "deno task bench [--quick] [--only ROW[,ROW…]]\n  --quick  3 rounds of 1 s instead of " +
        "5 of 2 s (and fewer idle sessions rounds)\n  --only   rows: " + ROW_NAMES.join(", "),
    );
    Deno.exit(0);
  }
  if (values.only === undefined) return { quick: values.quick, only: null, ...group };
  const only = values.only.split(",").map((s) => s.trim()).filter(Boolean);
  const bad = only.filter((r) => !(ROW_NAMES as readonly string[]).includes(r));
  if (bad.length) throw new RangeError(`--only: no row ${bad.join(", ")} (rows: ${ROW_NAMES})`);
  return { quick: values.quick, only: new Set(only as RowName[]), ...group };
}

/** Reruns this suite under a raised descriptor limit when the soft one is too low for idle_kib_5k. */
async function ensureFdLimit(): Promise<void> {
  const lim = await fdLimits();
  if (!lim || lim.soft >= 12_000 || Deno.env.get("SCHIED_BENCH_REEXEC") === "1") return;
  const want = Math.min(lim.hard, 1 << 20);
  if (want <= lim.soft) return; // nothing to gain; idle_kib_5k will report what failed
  const self = new URL(import.meta.url).pathname;
  const cmd = new Deno.Command("bash", {
    args: [
      "-c",
      `ulimit -Sn ${want} && exec "$@"`,
      "bash",
      Deno.execPath(),
      "run",
      ...PERMISSIONS,
      self,
      ...Deno.args,
    ],
    env: { SCHIED_BENCH_REEXEC: "1" },
  });
  const child = cmd.spawn();
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => {
      try {
        child.kill(sig);
      } catch { /* gone */ }
    });
  }
  Deno.exit((await child.status).code);
}

/**
 * Runs the launcher once (bounded): on a clean clone it installs Deno into .tools/deno and
 * caches the product's modules, which must not count against a server's 30 s start limit. Then
 * makes sure Debian's python3 has the seed relay's packages (apt-get, bounded), or says why not.
 */
async function prepare(ctx: Ctx): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "schied-bench-prep-" });
  ctx.log("preparing: scripts/schied --help (a clean clone installs Deno and caches modules)");
  try {
    const out = await new Deno.Command(SCHIED, {
      args: ["--state-dir", dir, "--help"],
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
      signal: AbortSignal.timeout(300_000),
    }).output();
    if (!out.success) ctx.log(`scripts/schied --help exited with ${out.code}`);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  if (ctx.want("python_seed_ratio")) {
    ctx.pythonWhyNot = await bounded(
      ensurePythonSeed(ctx.log),
      300_000,
      "installing Python packages",
    )
      .catch((e) => `cannot run the Python seed relay: ${(e as Error).message}`);
    if (ctx.pythonWhyNot) ctx.log(ctx.pythonWhyNot);
  }
}

function makeCtx(opts: Options, watchdogS: number): Ctx {
  return {
    quick: opts.quick,
    rounds: opts.quick ? 3 : 5,
    roundS: opts.quick ? 1 : 2,
    log: (s) => console.error(`bench: ${s}`),
    want: (n) => opts.only === null || opts.only.has(n),
    capacity: {},
    maxLifeS: watchdogS + 30,
  };
}

const watchdogOf = (opts: Options) => (opts.quick ? 420 : 590);

/** In a group's own process (see _isolate.ts): runs that group and hands its reports back. */
async function groupMain(opts: Options): Promise<void> {
  const g = GROUPS[opts.group!];
  if (!g || !opts.groupIo) throw new RangeError(`--group: no group ${opts.group}`);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => {
      killAll();
      Deno.exit(130);
    });
  }
  const ctx = { ...makeCtx(opts, watchdogOf(opts)), ...(await readShared(opts.groupIo)) };
  const shared = () => ({ capacity: ctx.capacity, pythonWhyNot: ctx.pythonWhyNot });
  try {
    const limit = g.limitS[opts.quick ? 1 : 0];
    const reports = await bounded(g.run(ctx), limit * 1000, `rows ${g.rows.join(", ")}`);
    await writeOutcome(opts.groupIo, { reports, shared: shared() });
  } catch (e) {
    ctx.log(`rows ${g.rows.join(", ")} failed: ${(e as Error).stack ?? e}`);
    await writeOutcome(opts.groupIo, {
      reports: [],
      shared: shared(),
      error: (e as Error).message,
    });
  } finally {
    killAll();
  }
}

async function main(): Promise<void> {
  const opts = parse(Deno.args);
  if (opts.group !== undefined) return await groupMain(opts);
  await ensureFdLimit();
  const t0 = performance.now();
  const machine = await machineInfo();
  const reports = new Map<RowName, RowReport>();
  const loadByGroup: Record<string, number[] | null> = {};
  const finish = async (why: string | null) => {
    const rows = ROW_NAMES.map((n) =>
      reports.get(n) ?? failedRow(n, why ?? (opts.only ? "not run (--only)" : "not run"))
    );
    const m = {
      ...machine,
      load_average_end: await loadAverage(),
      load_average_by_group: loadByGroup,
      mode: opts.quick ? "quick" : "full",
      only: opts.only ? [...opts.only] : null,
      wall_s: Math.round((performance.now() - t0) / 100) / 10,
    };
    const results = { machine: m, rows: rows.map((r) => r.row) };
    const problems = resultsProblems(results, ROW_NAMES);
    if (problems.length) console.error(`bench: results file problems: ${problems.join("; ")}`);
    await Deno.mkdir(RESULTS, { recursive: true });
    await Deno.writeTextFile(`${RESULTS}latest.json`, JSON.stringify(results, null, 2) + "\n");
    await Deno.writeTextFile(
      `${RESULTS}latest-details.json`,
      JSON.stringify({ machine: m, rows: rows }, null, 2) + "\n",
    );
    const load = (x: unknown) => (Array.isArray(x) ? x.join(" ") : "?");
    console.log(
      `\n## schied benchmarks — ${m.date}\n\n${m.cores} cores (${m.cpu}), ${m.memory_mib} MiB, ` +
        `Linux ${m.kernel}, Deno ${m.deno} (V8 ${m.v8}); load average ${
          load(m.load_average_start)
        }` +
        ` at start, ${load(m.load_average_end)} at end; git ${m.git.head} with ` +
        `${m.git.changed_files} changed files; ${m.mode} run, ${m.wall_s} s\n\n` +
        markdown(rows) + `\n\nWritten: ${RESULTS}latest.json`,
    );
  };
  const watchdogS = watchdogOf(opts);
  const watchdog = setTimeout(async () => {
    console.error(`bench: watchdog: the run passed ${watchdogS} s; killing children`);
    killAll();
    await finish(`not finished: the watchdog stopped the run at ${watchdogS} s`).catch(() => {});
    Deno.exit(3);
  }, watchdogS * 1000);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => {
      killAll();
      Deno.exit(130);
    });
  }
  const ctx = makeCtx(opts, watchdogS);
  const command = [...PERMISSIONS, new URL(import.meta.url).pathname, ...Deno.args];
  try {
    await prepare(ctx);
    for (const [i, g] of GROUPS.entries()) {
      if (!g.rows.some(ctx.want)) continue;
      const limit = g.limitS[opts.quick ? 1 : 0];
      const started = performance.now();
      loadByGroup[g.rows.join(",")] = await loadAverage();
      // A fresh process per group (_isolate.ts); its start-up is not counted in its limit.
      const out = await runIsolated(
        command,
        i,
        { capacity: ctx.capacity, pythonWhyNot: ctx.pythonWhyNot },
        (limit + GROUP_START_S) * 1000,
      );
      ctx.capacity = out.shared.capacity;
      ctx.pythonWhyNot = out.shared.pythonWhyNot;
      for (const r of out.reports) reports.set(r.row.name as RowName, r);
      if (out.error) ctx.log(`rows ${g.rows.join(", ")} failed: ${out.error}`);
      for (const n of g.rows.filter(ctx.want)) {
        if (!reports.has(n)) reports.set(n, failedRow(n, `failed: ${out.error ?? "no report"}`));
      }
      ctx.log(`${g.rows.join(", ")}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  } finally {
    clearTimeout(watchdog);
    killAll();
  }
  await finish(null);
}

if (import.meta.main) {
  try {
    await main();
    Deno.exit(0);
  } catch (e) {
    killAll();
    console.error(`bench: ${e instanceof RangeError ? e.message : (e as Error).stack ?? e}`);
    Deno.exit(1);
  }
}
