/**
 * Harness for real `schied daemon` processes and the CLI: start a daemon on a free API port in a
 * temp dir, talk to it with the API client, run CLI verbs against it. Waits on conditions only.
 *
 * @module
 */
import { ApiClient } from "../api/mod.ts";
import type { JournalEvent } from "../daemon/service.ts";
import { controls, pumpLines, SCHIED, startRelayProcess, waitFor } from "./harness.ts";

/** A running `schied daemon` process. */
export interface DaemonProcess {
  id: string;
  apiUrl: string;
  token: string;
  stateDir: string;
  api: ApiClient;
  child: Deno.ChildProcess;
  log: string[];
  exited: Promise<Deno.CommandStatus>;
  kill(signal?: Deno.Signal): void;
  stop(): Promise<number>;
}

/** Starts `schied daemon` with `--api 127.0.0.1:0` in `stateDir` (a new temp dir by default). */
export async function startDaemonProcess(
  o: { relay?: string; stateDir?: string; args?: string[]; env?: Record<string, string> } = {},
): Promise<DaemonProcess> {
  const stateDir = o.stateDir ?? await Deno.makeTempDir({ prefix: "schied-daemon-" });
  const args = ["daemon", "--api", "127.0.0.1:0", "--state-dir", stateDir, ...(o.args ?? [])];
  if (o.relay) args.push("--relay", o.relay);
  const child = new Deno.Command(SCHIED, {
    args,
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...o.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  const info: Record<string, string> = {};
  void pumpLines(child.stderr, (l) => log.push(l));
  void pumpLines(child.stdout, (l) => {
    const [k, v] = l.split(" ", 2);
    if (k && v) info[k] = v;
  });
  const exited = child.status;
  await Promise.race([
    waitFor(() => info.api, "the daemon's API address", 30_000),
    exited.then((s) => {
      throw new Error(`daemon exited with ${s.code} before starting:\n${log.join("\n")}`);
    }),
  ]);
  const token = (await Deno.readTextFile(`${stateDir}/api-token`)).trim();
  return {
    id: info.id!,
    apiUrl: info.api!,
    token,
    stateDir,
    api: new ApiClient({ baseUrl: info.api!, token }),
    child,
    log,
    ...controls(child),
  };
}

/** Waits until the daemon reports the relay online. */
export async function waitOnline(d: DaemonProcess, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    async () => (await d.api.status()).relay.state === "online",
    `${d.id} online`,
    timeoutMs,
  );
}

/** The result of a CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `schied ARGS` (through scripts/schied) with optional stdin text. */
export async function cli(
  args: string[],
  o: { stdin?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const p = new Deno.Command(SCHIED, {
    args,
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...o.env },
    stdin: o.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (o.stdin !== undefined) {
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(o.stdin));
    await w.close();
  }
  const out = await p.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Collects a daemon's events from `since` into an array until `stop` is aborted. */
export function collectEvents(
  d: DaemonProcess,
  since = 0,
): { events: JournalEvent[]; stop: () => void } {
  const events: JournalEvent[] = [];
  const ac = new AbortController();
  (async () => {
    try {
      for await (const e of d.api.events({ since, signal: ac.signal })) events.push(e);
    } catch {
      // stopped
    }
  })();
  return { events, stop: () => ac.abort() };
}

/** A relay process and two daemon processes A and B, both online; `done()` stops all three. */
export async function startPair(): Promise<
  { a: DaemonProcess; b: DaemonProcess; done: () => Promise<void> }
> {
  const relay = await startRelayProcess();
  const a = await startDaemonProcess({ relay: relay.address });
  const b = await startDaemonProcess({ relay: relay.address });
  await Promise.all([waitOnline(a), waitOnline(b)]);
  // A and B are each other's contacts (a stranger's first message would be a request).
  await a.api.addContact({ id: b.id });
  await b.api.addContact({ id: a.id });
  return {
    a,
    b,
    async done() {
      const codes = await Promise.all([a.stop(), b.stop(), relay.stop()]);
      if (codes.some((c) => c !== 0)) throw new Error(`a process exited with ${codes.join(", ")}`);
    },
  };
}

/** A CLI process left running, with its output lines as they come. */
export interface SpawnedCli {
  child: Deno.ChildProcess;
  out: string[];
  err: string[];
  /** Writes to its stdin (when spawned with `stdin: "piped"`). */
  write(s: string): Promise<void>;
  /** Closes its stdin. */
  end(): Promise<void>;
  /** Stops it (SIGTERM unless it exited) and waits for it; the exit status. */
  stop(): Promise<Deno.CommandStatus>;
}

/** Starts `schied ARGS` (through scripts/schied) and collects its stdout and stderr lines. */
export function spawnCli(
  args: string[],
  o: { stdin?: "piped" | "null"; env?: Record<string, string> } = {},
): SpawnedCli {
  const child = new Deno.Command(SCHIED, {
    args,
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...o.env },
    stdin: o.stdin ?? "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out: string[] = [], err: string[] = [];
  void pumpLines(child.stdout, (l) => out.push(l));
  void pumpLines(child.stderr, (l) => err.push(l));
  const writer = o.stdin === "null" ? undefined : child.stdin.getWriter();
  return {
    child,
    out,
    err,
    write: (s) => writer!.write(new TextEncoder().encode(s)),
    end: () => writer!.close(),
    async stop() {
      await writer?.close().catch(() => {});
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      return await child.status;
    },
  };
}
