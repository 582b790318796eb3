/**
 * What every group of rows shares: the run's settings, logging, which rows are wanted, the
 * capacities one row measures for another (overload offers 2× them), and small helpers.
 *
 * @module
 */
import type { Peer } from "./_load.ts";
import type { RowName } from "./_rows.ts";
import type { BenchServer } from "./_servers.ts";
import { bounded } from "./_procs.ts";

export { alternate } from "./_stats.ts";

/** The run's settings and shared state. */
export interface Ctx {
  /** --quick: fewer, shorter rounds. */
  quick: boolean;
  /** Rounds per row (5, or 3 with --quick). */
  rounds: number;
  /** Seconds per time-bounded round (2, or 1 with --quick). */
  roundS: number;
  /** Progress on stderr. */
  log(msg: string): void;
  /** True if the row is to be run (--only). */
  want(name: RowName): boolean;
  /** Capacities measured earlier in the run (medians), for the overload row. */
  capacity: { relay1k100x2?: number; e2e?: number };
  /** Upper bound of any child's life, in seconds (passed as --max-seconds). */
  maxLifeS: number;
  /** Why the Python seed relay cannot run (null: it can), once the run has checked. */
  pythonWhyNot?: string | null;
}

/** Connects `n` clients to `server`, `concurrency` at a time, within `timeoutMs` in all. */
export async function connectPeers(
  server: BenchServer,
  n: number,
  concurrency = 16,
  timeoutMs = 60_000,
): Promise<Peer[]> {
  const peers: Peer[] = new Array(n);
  let next = 0;
  const work = async () => {
    while (next < n) {
      const i = next++;
      const peer: Peer = { client: undefined!, onPayload: () => {} };
      peer.client = await server.connect((p) => peer.onPayload(p));
      peers[i] = peer;
    }
  };
  try {
    await bounded(
      Promise.all(Array.from({ length: Math.min(n, concurrency) }, work)),
      timeoutMs,
      `connecting ${n} clients to ${server.name}`,
    );
  } catch (e) {
    await closePeers(peers.filter(Boolean));
    throw e;
  }
  return peers;
}

/** Closes clients (bounded). */
export async function closePeers(peers: readonly Peer[]): Promise<void> {
  await bounded(Promise.all(peers.map((p) => p.client?.close())), 15_000).catch(() => {});
}

/** Consecutive peers as pairs: (0,1), (2,3), … */
export function pairsOf(peers: readonly Peer[]): [Peer, Peer][] {
  const out: [Peer, Peer][] = [];
  for (let i = 0; i + 1 < peers.length; i += 2) out.push([peers[i]!, peers[i + 1]!]);
  return out;
}

/** Sleeps `ms`. */
export const sleep = (ms: number): Promise<void> =>
  new Promise((r) => setTimeout(r, Math.max(0, ms)));
