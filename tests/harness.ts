/**
 * Integration harness: starts real `schied` processes (through scripts/schied, so with the
 * exact permissions users get) on free ports in temp dirs, and waits on conditions, never on
 * sleeps.
 *
 * @module
 */
import { generateDh, randomSecret, signingKeyFromSeed } from "../protocol/_crypto.ts";
import { LinkClient, type LinkClientOptions } from "../daemon/link_client.ts";

/** The repository root. */
export const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** Path of the launcher. */
export const SCHIED = `${ROOT}/scripts/schied`;

/**
 * Polls `cond` until it is truthy (returns it) or `timeoutMs` passes (throws with `what`).
 * Polling yields to the event loop between tries; there is no fixed sleep in any test.
 */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let delay = 1;
  while (true) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
}

/** A running `schied relay` process. */
export interface RelayProcess {
  /** Its relay address. */
  address: string;
  /** Its HTTP base URL. */
  http: string;
  /** The base URL of its metrics listener (`/metrics`). */
  metrics: string;
  /** Its state dir. */
  stateDir: string;
  /** The child process. */
  child: Deno.ChildProcess;
  /** stderr lines so far (the log). */
  log: string[];
  /** Sends a signal. */
  kill(signal?: Deno.Signal): void;
  /** Stops it (SIGTERM) and waits for its exit; returns the exit code. */
  stop(): Promise<number>;
  /** Resolves on exit. */
  exited: Promise<Deno.CommandStatus>;
}

/**
 * A `wrap` for startRelayProcess: runs the launcher under `ulimit -n limit` (soft and hard, so
 * the launcher cannot raise it and passes `limit` as SCHIED_FD_LIMIT).
 */
export function underFdLimit(limit: number): string[] {
  return ["bash", "-c", `ulimit -n ${limit} && exec "$0" "$@"`];
}

/**
 * Starts `schied relay` on a free port in `stateDir` (a new temp dir by default). With `wrap`,
 * runs `wrap[0] ...wrap[1..] scripts/schied relay ...` instead (e.g. underFdLimit(1024)); the
 * wrapper must exec, so that the child's pid stays the relay's.
 */
export async function startRelayProcess(
  opts: {
    stateDir?: string;
    args?: string[];
    env?: Record<string, string>;
    port?: number;
    wrap?: string[];
  } = {},
): Promise<RelayProcess> {
  const stateDir = opts.stateDir ?? await Deno.makeTempDir({ prefix: "schied-relay-" });
  // The metrics listener's port is chosen here, so that it is known even with --quiet (which
  // leaves out the relay_listening line); a later --metrics-listen in `args` wins. A port taken
  // and released can be taken again by someone else (the relay's own port-0 listener, bound
  // first, among them), so a metrics bind that loses that race is retried with another port.
  for (let attempt = 1;; attempt++) {
    try {
      return await spawnRelay(stateDir, freePort(), opts);
    } catch (e) {
      const lost = e instanceof Error && /Cannot serve metrics on .*in use/.test(e.message);
      if (!lost || attempt >= METRICS_PORT_ATTEMPTS) throw e;
    }
  }
}

/** How many metrics ports startRelayProcess tries before it gives up. */
const METRICS_PORT_ATTEMPTS = 5;

async function spawnRelay(
  stateDir: string,
  metricsPort: number,
  opts: { args?: string[]; env?: Record<string, string>; port?: number; wrap?: string[] },
): Promise<RelayProcess> {
  const [program, ...pre] = opts.wrap?.length ? [...opts.wrap, SCHIED] : [SCHIED];
  const child = new Deno.Command(program!, {
    args: [
      ...pre,
      "relay",
      "--port",
      String(opts.port ?? 0),
      "--state-dir",
      stateDir,
      "--metrics-listen",
      `127.0.0.1:${metricsPort}`,
      ...(opts.args ?? []),
    ],
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...opts.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  const logged = pumpLines(child.stderr, (l) => log.push(l));
  let address = "";
  const lines = pumpLines(child.stdout, (l) => {
    if (!address) address = l.trim();
  });
  const exited = child.status;
  await Promise.race([
    waitFor(() => address, "the relay address", 30_000),
    exited.then(async (s) => {
      await logged.catch(() => {}); // the last lines, with the reason, before the error
      throw new Error(
        `relay exited with ${s.code} before printing its address:\n${log.join("\n")}`,
      );
    }),
  ]);
  void lines;
  const port = new URL(address).port;
  return {
    address,
    http: `http://127.0.0.1:${port}`,
    metrics: `http://127.0.0.1:${metricsPort}`,
    stateDir,
    child,
    log,
    ...controls(child),
  };
}

/** kill(), stop() and exited for a child process. */
export function controls(child: Deno.ChildProcess): {
  exited: Promise<Deno.CommandStatus>;
  kill(signal?: Deno.Signal): void;
  stop(): Promise<number>;
} {
  const exited = child.status;
  const kill = (signal: Deno.Signal = "SIGKILL") => {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  };
  return {
    exited,
    kill,
    async stop() {
      kill("SIGTERM");
      return (await exited).code;
    },
  };
}

/** Feeds each line of a byte stream to `onLine`; resolves at end of stream. */
export async function pumpLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  }
  if (buf) onLine(buf);
}

/** A fresh identity and link key. */
export async function newKeys(): Promise<Pick<LinkClientOptions, "identity" | "linkKey">> {
  return { identity: await signingKeyFromSeed(randomSecret()), linkKey: await generateDh() };
}

/** Connects a test client with a fresh identity (or the given keys). */
export async function connectClient(
  address: string,
  o: Partial<LinkClientOptions> = {},
): Promise<LinkClient> {
  return await LinkClient.connect({ address, ...(await newKeys()), ...o });
}

/**
 * The resident set size of a process, in bytes, from `ps` (Deno needs --allow-all to read
 * another process's /proc entries).
 */
export async function rssOf(pid: number): Promise<number> {
  const out = await new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(pid)] }).output();
  const kib = Number(new TextDecoder().decode(out.stdout).trim());
  if (!out.success || !Number.isFinite(kib)) throw new Error(`No process ${pid}`);
  return kib * 1024;
}

/** Ports freePort handed out in this test process: never handed out twice. */
const handedOut = new Set<number>();

/**
 * A port that was free a moment ago on 127.0.0.1 (for a listener the child binds itself), and
 * that this process has not handed out before (the kernel may offer a released port again).
 */
export function freePort(): number {
  for (let i = 0; i < 64; i++) {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (l.addr as Deno.NetAddr).port;
    l.close();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error("freePort: 64 tries gave only ports handed out before");
}
