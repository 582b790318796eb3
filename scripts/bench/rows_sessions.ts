/**
 * Session rows:
 *
 * - `logins_per_s`: 50 concurrent loops, each `LinkClient.connect` (TCP, WebSocket upgrade, Noise
 *   XK handshake, login, WELCOME) then `close()` (until the close completes), again and again
 *   for a time-bounded round; each loop logs in with its own identity, registered in the warm-up.
 *   Reference: the same 50 loops of a bare WebSocket connect (+ the forwarder's id echo) and close.
 * - `idle_kib_5k`: a fresh server per round; its RSS (ps) before and after 5,000 clients are
 *   logged in (50 at a time) and idle for 1 s; growth / 5,000 in KiB. Reference: the bare
 *   forwarder with 5,000 idle registered sockets.
 *
 * @module
 */
import { LinkClient, type LinkClientOptions } from "../../daemon/link_client.ts";
import { newKeys, type RelayProcess, rssOf } from "../../tests/harness.ts";
import { alternate, closePeers, connectPeers, type Ctx, sleep } from "./_ctx.ts";
import { bounded, Scope, startRelay } from "./_procs.ts";
import { fmt, makeRow } from "./_rows.ts";
import { LIFT_PER_IP, LIFT_PER_SESSION, processCpuSeconds, startBare } from "./_servers.ts";
import { type RowReport, summarize } from "./_stats.ts";

type Keys = Pick<LinkClientOptions, "identity" | "linkKey">;
const IDLE = 5_000;
const LOOPS = 50;

async function keys(n: number): Promise<Keys[]> {
  const out: Keys[] = [];
  for (let i = 0; i < n; i++) out.push(await newKeys());
  return out;
}

/** `LOOPS` loops of `once(i)` for `seconds`; completed iterations per second. */
async function loops(seconds: number, once: (i: number) => Promise<void>): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: LOOPS }, async (_, i) => {
    while (performance.now() < end) {
      await once(i);
      if (performance.now() <= end) n++;
    }
  }));
  return n / seconds;
}

async function loginRows(ctx: Ctx, identities: Keys[]): Promise<RowReport> {
  const scope = new Scope();
  try {
    const relay = await startRelay(scope, [...LIFT_PER_SESSION, ...LIFT_PER_IP]);
    const bare = scope.server(await startBare(ctx.maxLifeS));
    const login = async (i: number) => {
      const link = await LinkClient.connect({ address: relay.address, ...identities[i]! });
      await link.close();
    };
    const bareOnce = async () => await (await bare.connect(() => {})).close();
    const round = (name: string, s: number) => loops(s, name === "schied" ? login : bareOnce);
    for (const name of ["schied", "bare"]) await round(name, ctx.quick ? 0.5 : 1);
    const rates = { schied: [] as number[], bare: [] as number[] };
    const cpuMs: number[] = [];
    for (let r = 1; r <= ctx.rounds; r++) {
      for (const name of alternate(["schied", "bare"] as const, r)) {
        const cpu0 = await processCpuSeconds(relay.child.pid);
        const rate = await round(name, ctx.roundS);
        const cpu1 = await processCpuSeconds(relay.child.pid);
        rates[name].push(rate);
        if (name === "schied" && cpu0 !== null && cpu1 !== null) {
          cpuMs.push(((cpu1 - cpu0) * 1000) / (rate * ctx.roundS));
        }
        ctx.log(`logins_per_s round ${r}: ${name} ${fmt(rate)}/s`);
      }
    }
    return makeRow("logins_per_s", {
      value: summarize(rates.schied),
      reference: summarize(rates.bare),
      notes: [
        `${LOOPS} concurrent loops of connect + XK + login + close, ${ctx.rounds} × ${ctx.roundS} s`,
        `relay CPU ${fmt(summarize(cpuMs).median)} ms per login`,
      ],
    });
  } finally {
    await scope.close();
  }
}

async function idleSchied(ctx: Ctx, identities: Keys[]): Promise<number> {
  const scope = new Scope();
  const links: LinkClient[] = [];
  try {
    const relay: RelayProcess = await startRelay(scope, [...LIFT_PER_SESSION, ...LIFT_PER_IP]);
    await sleep(500);
    const before = await rssOf(relay.child.pid);
    let next = 0;
    await bounded(
      Promise.all(Array.from({ length: LOOPS }, async () => {
        while (next < IDLE) {
          const k = identities[next++]!;
          links.push(await LinkClient.connect({ address: relay.address, ...k }));
        }
      })),
      90_000,
      `logging in ${IDLE} sessions`,
    );
    await sleep(1000);
    const after = await rssOf(relay.child.pid);
    ctx.log(`idle_kib_5k: schied ${fmt((after - before) / IDLE / 1024)} KiB/session`);
    return (after - before) / IDLE / 1024;
  } finally {
    await bounded(Promise.all(links.map((l) => l.terminate())), 15_000).catch(() => {});
    await scope.close();
  }
}

async function idleBare(ctx: Ctx): Promise<number> {
  const scope = new Scope();
  try {
    const bare = scope.server(await startBare(ctx.maxLifeS));
    await sleep(500);
    const before = await rssOf(bare.pid);
    const peers = await connectPeers(bare, IDLE, LOOPS, 90_000);
    await sleep(1000);
    const after = await rssOf(bare.pid);
    await closePeers(peers);
    ctx.log(`idle_kib_5k: bare ${fmt((after - before) / IDLE / 1024)} KiB/session`);
    return (after - before) / IDLE / 1024;
  } finally {
    await scope.close();
  }
}

/** Runs `logins_per_s` and `idle_kib_5k` as `ctx` wants. */
export async function sessionRows(ctx: Ctx): Promise<RowReport[]> {
  const out: RowReport[] = [];
  const wantIdle = ctx.want("idle_kib_5k");
  ctx.log(`session rows: making ${wantIdle ? IDLE : LOOPS} identities`);
  const identities = await keys(wantIdle ? IDLE : LOOPS);
  if (ctx.want("logins_per_s")) out.push(await loginRows(ctx, identities));
  if (wantIdle) {
    const s: number[] = [], b: number[] = [];
    const rounds = ctx.quick ? 2 : ctx.rounds;
    for (let r = 1; r <= rounds; r++) {
      for (const name of alternate(["schied", "bare"], r)) {
        if (name === "schied") s.push(await idleSchied(ctx, identities));
        else b.push(await idleBare(ctx));
      }
    }
    out.push(makeRow("idle_kib_5k", {
      value: summarize(s),
      reference: summarize(b),
      notes: [
        `RSS growth of a fresh server with ${fmt(IDLE)} logged-in idle sessions (1 s after the ` +
        `last login) / ${fmt(IDLE)}; ${rounds} rounds, a fresh server each`,
      ],
    }));
  }
  return out;
}
