/**
 * End-to-end rows, through a relay and two daemons A and B (each the other's contact):
 *
 * - `e2e_throughput`: 32 keep-alive senders, closed loop (post, await the 202, post again),
 *   `POST /send` to A; the value is `message` events reaching B's `GET /events` (SSE) per
 *   second of the round. Reference: bare_http.ts (Deno.serve, the same two routes, POST fanned
 *   out to the SSE stream, nothing behind) with the same generator.
 * - `e2e_p99_500`: open loop, 500 `POST /send`/s to A; latency from the start of each POST to
 *   its event at B; p99 (and p50). The bare server's p99 at the same load is the reference.
 * - `send_wall_ms`: wall time of `echo hi | scripts/schied send <B>` against A (median of 7,
 *   after one warm-up); reference: `deno run` of an empty file.
 *
 * The relay lifts its per-IP and per-session limits (one daemon may pass 5,000 frames/s here).
 * After each round the generator waits (bounded) until B has every message A accepted, so no
 * round's backlog spills into the next.
 *
 * @module
 */
import { SCHIED } from "../../tests/harness.ts";
import { alternate, type Ctx, sleep } from "./_ctx.ts";
import {
  Arrivals,
  closedLoopSend,
  type HttpTarget,
  openLoopSend,
  readEvents,
  type SendTally,
  until,
} from "./_http_load.ts";
import { Scope, startDaemonPair, startRelay, startScript } from "./_procs.ts";
import { fmt, makeRow } from "./_rows.ts";
import { LIFT_PER_IP, LIFT_PER_SESSION, processCpuSeconds } from "./_servers.ts";
import { latencies, type RowReport, summarize } from "./_stats.ts";

const BARE_HTTP = new URL("./bare_http.ts", import.meta.url).pathname;

interface Side {
  name: "schied" | "bare";
  target: HttpTarget;
  arrivals: Arrivals;
  pids: number[];
}

const statuses = (t: SendTally) =>
  Object.entries(t.byStatus).map(([k, v]) => `${v}×${k}`).join(" ") +
  (t.failed ? ` ${t.failed} failed` : "");

async function throughput(ctx: Ctx, sides: Side[]): Promise<RowReport> {
  const rates = new Map(sides.map((s) => [s.name, [] as number[]]));
  const notes: string[] = [];
  const cpu: number[][] = [];
  for (const s of sides) {
    const w = s.arrivals.expect(`w${s.name}`);
    const t = await closedLoopSend(s.target, { senders: 32, seconds: 1, tag: `w${s.name}` });
    await until(() => w.total >= (t.byStatus[202] ?? 0), 30_000);
  }
  for (let r = 1; r <= ctx.rounds; r++) {
    for (const s of alternate(sides, r)) {
      const tag = `t${r}`;
      const a = s.arrivals.expect(tag, performance.now() + ctx.roundS * 1000);
      const cpu0 = await Promise.all(s.pids.map(processCpuSeconds));
      const t = await closedLoopSend(s.target, { senders: 32, seconds: ctx.roundS, tag });
      const accepted = t.byStatus[202] ?? 0;
      const drainStart = performance.now();
      const drained = await until(() => a.total >= accepted, 30_000);
      const cpu1 = await Promise.all(s.pids.map(processCpuSeconds));
      rates.get(s.name)!.push(a.byEnd / ctx.roundS);
      if (s.name === "schied") {
        cpu.push(cpu1.map((c, i) => (((c ?? 0) - (cpu0[i] ?? 0)) * 1e3) / Math.max(1, a.total)));
        notes.push(
          `round ${r}: ${fmt(accepted / ctx.roundS)} accepted/s (${statuses(t)}), ` +
            `backlog drained in ${fmt((performance.now() - drainStart) / 1000)} s` +
            (drained ? "" : ` (NOT drained: ${a.total}/${accepted})`),
        );
      }
      ctx.log(`e2e_throughput round ${r}: ${s.name} ${fmt(a.byEnd / ctx.roundS)} msg/s`);
    }
  }
  const ms = (i: number) => fmt(summarize(cpu.map((c) => c[i]!)).median);
  return makeRow("e2e_throughput", {
    value: summarize(rates.get("schied")!),
    reference: summarize(rates.get("bare")!),
    notes: [
      `32 closed-loop senders, ${ctx.rounds} × ${ctx.roundS} s; CPU ms per message: daemon A ` +
      `${ms(0)}, daemon B ${ms(1)}, relay ${ms(2)}`,
      ...notes,
    ],
  });
}

async function p99At500(ctx: Ctx, sides: Side[]): Promise<RowReport> {
  const p = new Map(sides.map((s) => [s.name, { p99: [] as number[], p50: [] as number[] }]));
  const notes: string[] = [];
  for (let r = 1; r <= ctx.rounds; r++) {
    for (const s of alternate(sides, r)) {
      const tag = `p${r}`;
      const a = s.arrivals.expect(tag);
      const o = { rate: 500, seconds: Math.max(2, ctx.roundS), tag, maxOutstanding: 1000 };
      const t = await openLoopSend(s.target, o);
      const accepted = t.byStatus[202] ?? 0;
      const drained = await until(() => a.total >= accepted, 30_000);
      const l = latencies(Float64Array.from(a.latMs));
      p.get(s.name)!.p99.push(l.p99);
      p.get(s.name)!.p50.push(l.p50);
      if (s.name === "schied" && (!drained || accepted !== o.rate * o.seconds)) {
        notes.push(`round ${r}: ${statuses(t)}, ${t.skipped} skipped, ${a.total} arrived`);
      }
      ctx.log(`e2e_p99_500 round ${r}: ${s.name} p50 ${fmt(l.p50)} ms, p99 ${fmt(l.p99)} ms`);
    }
  }
  const schied = p.get("schied")!, bare = p.get("bare")!;
  return makeRow("e2e_p99_500", {
    value: summarize(schied.p99),
    reference: summarize(bare.p99),
    notes: [
      `open loop 500 msg/s; p50 ${fmt(summarize(schied.p50).median)} ms (bare ` +
      `${fmt(summarize(bare.p50).median)} ms); reference: the bare server's p99, ratio = ` +
      "schied / bare (lower is better)",
      ...notes,
    ],
  });
}

async function wallMs(cmd: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  const out = await new Deno.Command(cmd, {
    args,
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const ms = performance.now() - t0;
  if (!out.success) throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr)}`);
  return ms;
}

async function sendWall(ctx: Ctx, stateDir: string, peer: string): Promise<RowReport> {
  const empty = await Deno.makeTempFile({ prefix: "bench-empty-", suffix: ".ts" });
  try {
    const send = () =>
      wallMs("bash", ["-c", 'echo hi | "$0" send --state-dir "$1" "$2"', SCHIED, stateDir, peer]);
    const deno = () => wallMs(Deno.execPath(), ["run", "--quiet", "--no-prompt", empty]);
    await send();
    await deno();
    const s: number[] = [], d: number[] = [];
    const runs = Math.max(7, ctx.rounds);
    for (let i = 1; i <= runs; i++) {
      for (const f of alternate(["send", "deno"], i)) {
        if (f === "send") s.push(await send());
        else d.push(await deno());
      }
    }
    return makeRow("send_wall_ms", {
      value: summarize(s),
      reference: summarize(d),
      notes: [
        `${runs} runs each after a warm-up; the launcher (bash, deno --version check) included`,
      ],
    });
  } finally {
    await Deno.remove(empty).catch(() => {});
  }
}

/** Runs the end-to-end rows that `ctx` wants. */
export async function e2eRows(ctx: Ctx): Promise<RowReport[]> {
  const want = (["e2e_throughput", "e2e_p99_500", "send_wall_ms"] as const).filter(ctx.want);
  if (want.length === 0) return [];
  const scope = new Scope();
  const out: RowReport[] = [];
  try {
    const relay = await startRelay(scope, [...LIFT_PER_SESSION, ...LIFT_PER_IP]);
    const { a, b } = await startDaemonPair(scope, relay.address);
    const bare = await startScript(scope, BARE_HTTP, ["--max-seconds", String(ctx.maxLifeS)]);
    const sides: Side[] = [
      {
        name: "schied",
        target: { url: a.apiUrl, token: a.token, to: b.id },
        arrivals: new Arrivals(),
        pids: [a.child.pid, b.child.pid, relay.child.pid],
      },
      {
        name: "bare",
        target: { url: bare.url, token: null, to: b.id },
        arrivals: new Arrivals(),
        pids: [bare.pid],
      },
    ];
    const readers = [
      await readEvents({ url: b.apiUrl, token: b.token }, sides[0]!.arrivals),
      await readEvents({ url: bare.url, token: null }, sides[1]!.arrivals),
    ];
    scope.defer(() => readers.forEach((r) => r.close()));
    await sleep(200);
    if (ctx.want("e2e_throughput")) {
      const row = await throughput(ctx, sides);
      out.push(row);
      if (row.value) ctx.capacity.e2e = row.value.median;
    }
    if (ctx.want("e2e_p99_500")) out.push(await p99At500(ctx, sides));
    if (ctx.want("send_wall_ms")) out.push(await sendWall(ctx, a.stateDir, b.id));
  } finally {
    await scope.close();
  }
  return out;
}
