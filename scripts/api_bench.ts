/**
 * What the local API's own layer costs on its hot path, per request, in process (no sockets, a
 * service that does nothing): `POST /send` with JSON, with a text/plain body, and the setup of
 * `GET /events` (answer and stream set up, then cancelled). With `--against DIR` it measures the
 * app of another checkout in the same run, round by round in turn, e.g. the hand-written
 * validation before the schemas:
 *
 * ```sh
 * git worktree add /tmp/before cd22c66
 * deno run --allow-read --allow-env scripts/api_bench.ts --against /tmp/before
 * ```
 *
 * Prints one markdown row per case and app: the median of the rounds in µs per request and
 * requests/s, the fastest round (the least disturbed by anything else on the machine) and
 * min..max. Bounded: ROUNDS × REQUESTS requests per case and app.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";

const ROUNDS = 9;
const REQUESTS = 20_000;
const WARMUP = 3_000;
const PORT = 7777;
const TOKEN = "t".repeat(43);
const ID = "0b3e51c2-6f1d-8a4e-9c1b-2d3e4f5a6b7c";

type Fetch = (req: Request) => Response | Promise<Response>;
type App = { name: string; fetch: Fetch };

/** A service that answers at once: what is left to measure is the API layer. */
function stubService(): unknown {
  const rec = {
    id: ID,
    direction: "out",
    peer: ID,
    peer_name: "alice",
    text: "hello",
    ts: 0,
    seq: 1,
    status: "queued",
    event_id: 1,
  };
  return {
    send: () => Promise.resolve(rec),
    subscribe: () => () => {},
    lastEventId: () => 0,
    eventsSince: () => [],
  };
}

async function load(name: string, dir: string): Promise<App> {
  const mod = await import(pathToFileURL(`${dir}/api/app.ts`).href);
  const app = mod.createApi({ service: stubService(), token: TOKEN, port: PORT });
  return { name, fetch: (req) => app.fetch(req) };
}

const base = `http://127.0.0.1:${PORT}`;
const headers = { host: `127.0.0.1:${PORT}`, authorization: `Bearer ${TOKEN}` };
const CASES: Record<string, { req: () => Request; status: number; cancel?: boolean }> = {
  "POST /send (JSON)": {
    req: () =>
      new Request(`${base}/send`, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: '{"to":"alice","text":"hello","id":"k-1"}',
      }),
    status: 202,
  },
  "POST /send (text/plain)": {
    req: () =>
      new Request(`${base}/send?to=alice&id=k-1`, {
        method: "POST",
        headers: { ...headers, "content-type": "text/plain" },
        body: "hello\n",
      }),
    status: 202,
  },
  "GET /events (setup)": {
    req: () => new Request(`${base}/events?since=0`, { headers }),
    status: 200,
    cancel: true,
  },
};

async function run(app: App, c: (typeof CASES)[string], n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const res = await app.fetch(c.req());
    if (res.status !== c.status) throw new Error(`${app.name}: HTTP ${res.status}`);
    if (c.cancel) await res.body?.cancel();
    else await res.arrayBuffer();
  }
  return ((performance.now() - t0) * 1000) / n; // µs per request
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Runs every case for every app, alternating them round by round; prints the table. */
async function main(): Promise<void> {
  const { values } = parseArgs({ args: Deno.args, options: { against: { type: "string" } } });
  const here = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const apps = [await load("this tree", here)];
  if (values.against) apps.push(await load(values.against, values.against));
  console.log(
    `| case | app | µs/request (median) | requests/s | fastest round (µs) | rounds (µs) |`,
  );
  console.log(`| --- | --- | --- | --- | --- | --- |`);
  for (const [label, c] of Object.entries(CASES)) {
    for (const app of apps) await run(app, c, WARMUP);
    const us = new Map<App, number[]>(apps.map((a) => [a, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const app of r % 2 ? [...apps].reverse() : apps) {
        us.get(app)!.push(await run(app, c, REQUESTS));
      }
    }
    for (const app of apps) {
      const xs = us.get(app)!;
      const m = median(xs);
      const range = `${Math.min(...xs).toFixed(1)}..${Math.max(...xs).toFixed(1)}`;
      console.log(
        `| ${label} | ${app.name} | ${m.toFixed(1)} | ${Math.round(1e6 / m)} | ${
          Math.min(...xs).toFixed(1)
        } | ${range} |`,
      );
    }
  }
  console.log(
    `\n${Deno.build.target}, Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores`,
  );
}

if (import.meta.main) await main();
