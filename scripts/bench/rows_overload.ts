/**
 * `overload_rss_growth`: twice the measured capacity, offered open loop for 10 s (5 s with
 * --quick), to (a) the relay and (b) a daemon's `POST /send`; RSS (ps, every 250 ms) of the relay
 * and of the daemon, and how the excess was answered.
 *
 * (a) A relay with its default per-session limits (only the per-IP ones lifted: every client is
 * 127.0.0.1), 100 pairs of LinkClients warmed up for 1 s at 2 in flight each, then 1 KiB
 * envelopes at 2× relay_1k_100x2's schied median
 * (measured here if that row did not run): the daemons' shape, one frame per record, where the
 * relay does the most per envelope. Counted: RESULTs by status/code, link closes by code, SENDs
 * without a RESULT after a 10 s drain.
 * (b) A relay and daemons A and B (B reading /events), after 3 s of 32 closed-loop senders (the
 * daemon's working set at full load; also the capacity when e2e_throughput did not run),
 * `POST /send` to A at 2× e2e_throughput's median; at most 1,000 requests open at once (more
 * are counted as skipped). Counted: answers
 * by HTTP status (202, 503, 429, …), requests without an answer.
 *
 * The value is the larger peak growth (relay in (a), daemon A in (b)), in MiB. Met when both are
 * ≤ 64 MiB and the excess was answered explicitly: every SEND got a RESULT (or its link a close
 * code) and every POST an HTTP answer, none skipped.
 *
 * @module
 */
import { LinkClient } from "../../daemon/link_client.ts";
import { connectClient, rssOf } from "../../tests/harness.ts";
import { type Ctx, pairsOf, sleep } from "./_ctx.ts";
import { closedLoop, openLoop } from "./_flows.ts";
import { Arrivals, closedLoopSend, openLoopSend, readEvents, until } from "./_http_load.ts";
import type { Peer } from "./_load.ts";
import { bounded, Scope, startDaemonPair, startRelay } from "./_procs.ts";
import { fmt, makeRow } from "./_rows.ts";
import { LIFT_PER_IP, LIFT_PER_SESSION } from "./_servers.ts";
import { latencies, type RowReport, summarize } from "./_stats.ts";

const MIB = 1024 * 1024;

/** Samples a process's RSS every 250 ms until stopped; the peak so far. */
function sampler(pid: number): { peak(): number; stop(): void } {
  let peak = 0;
  const t = setInterval(() => rssOf(pid).then((r) => (peak = Math.max(peak, r)), () => {}), 250);
  return { peak: () => peak, stop: () => clearInterval(t) };
}

const count = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);
const show = (m: Record<string, number>) =>
  Object.entries(m).map(([k, v]) => `${v} ${k}`).join(", ") || "none";

async function linkPeer(
  address: string,
  results: Record<string, number>,
  closes: Record<string, number>,
) {
  const peer: Peer = { client: undefined!, onPayload: () => {} };
  const link: LinkClient = await connectClient(address, {
    onDeliver: (_f, e) => peer.onPayload(e),
  });
  link.closed().then((c) => count(closes, c.code ?? "clean"));
  let failures = 0;
  peer.client = {
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
        count(results, r.code ? `${r.status}/${r.code}` : r.status);
      });
    },
    close: async () => void await link.close(),
  };
  return { peer, link };
}

async function relaySide(ctx: Ctx, seconds: number) {
  const scope = new Scope();
  const results: Record<string, number> = {}, closes: Record<string, number> = {};
  const links: LinkClient[] = [];
  try {
    const relay = await startRelay(scope, LIFT_PER_IP);
    const peers: Peer[] = [];
    for (let i = 0; i < 200; i++) {
      const p = await linkPeer(relay.address, results, closes);
      peers.push(p.peer);
      links.push(p.link);
    }
    const pairs = pairsOf(peers);
    let capacity = ctx.capacity.relay1k100x2;
    await closedLoop(pairs, { size: 1024, window: 2, seconds: 1 });
    if (capacity === undefined) {
      capacity = (await closedLoop(pairs, { size: 1024, window: 2, seconds: 2 })).perSecond;
    }
    for (const k of Object.keys(results)) delete results[k];
    await sleep(500);
    const before = await rssOf(relay.child.pid);
    const s = sampler(relay.child.pid);
    const r = await openLoop(pairs, { size: 1024, rate: 2 * capacity, seconds });
    const drain0 = performance.now();
    await until(() => links.every((l) => l.inFlight === 0 || l.isClosed), 15_000);
    const drainS = (performance.now() - drain0) / 1000;
    const after = await rssOf(relay.child.pid);
    s.stop();
    const unanswered = links.reduce((n, l) => n + (l.isClosed ? 0 : l.inFlight), 0);
    const growth = (Math.max(s.peak(), after) - before) / MIB;
    ctx.log(`overload relay: +${fmt(growth)} MiB, RESULTs ${show(results)}`);
    return {
      growth,
      explicit: unanswered === 0,
      note: `relay: ${fmt(2 * capacity)} env/s offered for ${seconds} s ` +
        `(${fmt(r.sent / seconds)}/s achieved by the generator), RSS ${fmt(before / MIB)} → peak ` +
        `${fmt(Math.max(s.peak(), after) / MIB)} MiB; RESULTs: ${show(results)}; link closes: ` +
        `${show(closes)}; ${unanswered} SENDs unanswered after ${fmt(5 + drainS)} s of drain, ` +
        `${r.lost} envelopes not delivered; delivery latency p50 ${fmt(r.p50Ms)} ms, p99 ` +
        `${fmt(r.p99Ms)} ms`,
    };
  } finally {
    await bounded(Promise.all(links.map((l) => l.terminate())), 10_000).catch(() => {});
    await scope.close();
  }
}

async function daemonSide(ctx: Ctx, seconds: number) {
  const scope = new Scope();
  try {
    const relay = await startRelay(scope, [...LIFT_PER_SESSION, ...LIFT_PER_IP]);
    const { a, b } = await startDaemonPair(scope, relay.address);
    const arrivals = new Arrivals();
    const reader = await readEvents({ url: b.apiUrl, token: b.token }, arrivals);
    scope.defer(() => reader.close());
    const target = { url: a.apiUrl, token: a.token, to: b.id };
    // Warmed up at capacity first, as the relay side is: "before" is the daemon's working set
    // under full load, so that the growth is what the overload adds (its queues), not the
    // heap a fresh daemon grows into at its first busy seconds. Measured or not, the same 3 s.
    const c = arrivals.expect("cap", performance.now() + 3000);
    const t = await closedLoopSend(target, { senders: 32, seconds: 3, tag: "cap" });
    const capacity = ctx.capacity.e2e ?? c.byEnd / 3;
    await until(() => c.total >= (t.byStatus[202] ?? 0), 30_000);
    await sleep(1000);
    const before = await rssOf(a.child.pid);
    const s = sampler(a.child.pid);
    const tally = await openLoopSend(target, {
      rate: 2 * capacity,
      seconds,
      tag: "over",
      maxOutstanding: 1000,
    });
    const after = await rssOf(a.child.pid);
    s.stop();
    const growth = (Math.max(s.peak(), after) - before) / MIB;
    const l = latencies(Float64Array.from(tally.answerMs));
    const statuses = Object.fromEntries(
      Object.entries(tally.byStatus).map(([k, v]) => [`HTTP ${k}`, v]),
    );
    ctx.log(`overload daemon: +${fmt(growth)} MiB, ${show(statuses)}`);
    return {
      growth,
      explicit: tally.failed === 0 && tally.skipped === 0,
      note: `daemon: ${fmt(2 * capacity)} POST/s offered for ${seconds} s, A's RSS ` +
        `${fmt(before / MIB)} → peak ${fmt(Math.max(s.peak(), after) / MIB)} MiB; answers: ` +
        `${show(statuses)}; ${tally.failed} without an answer (${show(tally.failures)}), ` +
        `${tally.skipped} skipped (1,000 open); answer time p50 ${fmt(l.p50)} ms, p99 ${
          fmt(l.p99)
        } ms`,
    };
  } finally {
    await scope.close();
  }
}

type Side = { growth: number; explicit: boolean; note: string };

async function side(what: string, f: () => Promise<Side>): Promise<Side> {
  try {
    return await f();
  } catch (e) {
    const why = (e as Error).message.split("\n")[0];
    return { growth: NaN, explicit: false, note: `${what}: not measured (${why})` };
  }
}

/** Runs `overload_rss_growth` if `ctx` wants it; a side that fails leaves the row unmet. */
export async function overloadRows(ctx: Ctx): Promise<RowReport[]> {
  if (!ctx.want("overload_rss_growth")) return [];
  const seconds = ctx.quick ? 5 : 10;
  const relay = await side("relay", () => relaySide(ctx, seconds));
  const daemon = await side("daemon", () => daemonSide(ctx, seconds));
  const growths = [relay.growth, daemon.growth].filter(Number.isFinite);
  return [makeRow("overload_rss_growth", {
    value: growths.length ? summarize([Math.max(...growths)]) : null,
    met: relay.growth <= 64 && daemon.growth <= 64 && relay.explicit && daemon.explicit,
    notes: [
      `relay +${fmt(relay.growth)} MiB, daemon A +${fmt(daemon.growth)} MiB (peak RSS − before)`,
      relay.note,
      daemon.note,
    ],
  })];
}
