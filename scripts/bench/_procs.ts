/**
 * The suite's child processes: every one is registered the moment it is spawned, so the
 * watchdog, a signal or an error can kill them all (killAll), and each row stops its own in
 * reverse order when it ends, however it ends (Scope).
 *
 * @module
 */
import { pumpLines, type RelayProcess, startRelayProcess } from "../../tests/harness.ts";
import { type DaemonProcess, startDaemonProcess, waitOnline } from "../../tests/daemon_harness.ts";
import type { BenchServer } from "./_servers.ts";

const live = new Set<() => void>();

/** Registers a SIGKILL for killAll; returns the function that unregisters it. */
export function track(kill: () => void): () => void {
  live.add(kill);
  return () => live.delete(kill);
}

/** Kills (SIGKILL) every child still registered. Synchronous: safe in a signal handler. */
export function killAll(): void {
  for (const k of live) {
    try {
      k();
    } catch { /* gone */ }
  }
  live.clear();
}

/** Cleanups run in reverse order on close; a failing one does not stop the others. */
export class Scope {
  #fns: (() => unknown)[] = [];

  /** Adds a cleanup. */
  defer(fn: () => unknown): void {
    this.#fns.push(fn);
  }

  /** Registers a started server: killed by killAll, stopped (bounded) by close. */
  server<T extends BenchServer>(s: T): T {
    const untrack = track(() => s.kill());
    this.defer(async () => {
      await bounded(s.stop(), 10_000).catch(() => s.kill());
      untrack();
    });
    return s;
  }

  /** Runs the cleanups, newest first. */
  async close(): Promise<void> {
    for (const fn of this.#fns.splice(0).reverse()) {
      try {
        await fn();
      } catch { /* best effort */ }
    }
  }
}

/** Resolves like `p`, or rejects after `ms`. */
export function bounded<T>(p: Promise<T>, ms: number, what = "operation"): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, rej) => {
    t = setTimeout(() => rej(new Error(`${what} took more than ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

/** Starts `schied relay` with `args` in a temp state dir, registered in `scope`. */
export async function startRelay(scope: Scope, args: string[]): Promise<RelayProcess> {
  const relay = await startRelayProcess({ args: ["--quiet", ...args] });
  const untrack = track(() => relay.kill("SIGKILL"));
  scope.defer(async () => {
    await bounded(relay.stop(), 10_000).catch(() => relay.kill("SIGKILL"));
    untrack();
    await Deno.remove(relay.stateDir, { recursive: true }).catch(() => {});
  });
  return relay;
}

/** Starts a daemon on `relay`, registered in `scope`. */
export async function startDaemon(scope: Scope, relay: string): Promise<DaemonProcess> {
  const d = await startDaemonProcess({ relay });
  const untrack = track(() => d.kill("SIGKILL"));
  scope.defer(async () => {
    await bounded(d.stop(), 10_000).catch(() => d.kill("SIGKILL"));
    untrack();
    await Deno.remove(d.stateDir, { recursive: true }).catch(() => {});
  });
  return d;
}

/** Two daemons on `relay`, online, each the other's contact (so messages are not requests). */
export async function startDaemonPair(
  scope: Scope,
  relay: string,
): Promise<{ a: DaemonProcess; b: DaemonProcess }> {
  const [a, b] = await Promise.all([startDaemon(scope, relay), startDaemon(scope, relay)]);
  await Promise.all([waitOnline(a, 30_000), waitOnline(b, 30_000)]);
  await a.api.addContact({ id: b.id });
  await b.api.addContact({ id: a.id });
  return { a, b };
}

/** A Deno script started as a child that prints `{"port":N}` once listening. */
export interface ScriptServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Its pid. */
  pid: number;
}

/** Runs `deno run --allow-net=127.0.0.1 path args` in `scope`; resolves once it listens. */
export async function startScript(
  scope: Scope,
  path: string,
  args: string[],
): Promise<ScriptServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--no-prompt", "--allow-net=127.0.0.1", path, ...args],
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const kill = (sig: Deno.Signal) => {
    try {
      child.kill(sig);
    } catch { /* gone */ }
  };
  const untrack = track(() => kill("SIGKILL"));
  scope.defer(async () => {
    kill("SIGTERM");
    await child.stdin.close().catch(() => {});
    await bounded(child.status, 10_000).catch(() => kill("SIGKILL"));
    untrack();
  });
  const port = await bounded(
    new Promise<number>((resolve, reject) => {
      pumpLines(child.stdout, (l) => resolve(JSON.parse(l).port)).catch(reject);
      child.status.then((s) => reject(new Error(`${path} exited with ${s.code}`)));
    }),
    30_000,
    `starting ${path}`,
  );
  return { url: `http://127.0.0.1:${port}`, pid: child.pid };
}
