/**
 * The two servers of the relay benchmark, behind one client interface: the bare forwarder
 * (scripts/bench/bare_forwarder.ts, plain npm `ws` clients) and a real `schied relay` process
 * (LinkClient clients: Noise XK link, AES-256-GCM records). Both run as child processes.
 *
 * @module
 */
import WebSocket from "ws";
import {
  connectClient,
  pumpLines,
  type RelayProcess,
  startRelayProcess,
} from "../../tests/harness.ts";

/** One load-generator client, whatever the server. */
export interface BenchClient {
  /** The id the server routes to. */
  readonly id: Uint8Array;
  /** Sends `payload` to the client `to`; the partner's `onPayload` sees it. */
  send(to: Uint8Array, payload: Uint8Array): void;
  /** Sends refused by the server so far (schied RESULT not `delivered`). */
  readonly failures: number;
  /** Sends the server has not answered yet (always 0 for the bare forwarder). */
  readonly unanswered: number;
  /** Closes the connection. */
  close(): Promise<void>;
}

/** A server under test. */
export interface BenchServer {
  /** Its name in the report ("bare", "schied", "python"). */
  readonly name: string;
  /** The server process id (for its CPU time). */
  readonly pid: number;
  /** Connects one client; `onPayload` gets every payload delivered to it. */
  connect(onPayload: (payload: Uint8Array) => void): Promise<BenchClient>;
  /** Server-side counters worth reporting (schied: its /metrics), or null. */
  counters(): Promise<Record<string, number> | null>;
  /** Stops the process and waits for it to exit. */
  stop(): Promise<void>;
  /** Kills the process at once (SIGKILL), for the watchdog. */
  kill(): void;
}

const BARE_PATH = new URL("./bare_forwarder.ts", import.meta.url).pathname;

/** Starts the bare forwarder process; `maxSeconds` bounds its life. */
export async function startBare(maxSeconds: number): Promise<BenchServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--allow-net=127.0.0.1",
      BARE_PATH,
      "--max-seconds",
      String(maxSeconds),
    ],
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("bare forwarder did not start in 30 s")), 30_000);
    pumpLines(child.stdout, (l) => {
      clearTimeout(t);
      resolve(JSON.parse(l).port);
    }).catch(reject);
    child.status.then((s) => reject(new Error(`bare forwarder exited with ${s.code}`)));
  });
  const url = `ws://127.0.0.1:${port}/`;
  return {
    name: "bare",
    pid: child.pid,
    connect: (onPayload) => connectBare(url, onPayload),
    counters: () => Promise.resolve(null),
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.stdin.close().catch(() => {});
      await child.status;
    },
    kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    },
  };
}

function connectBare(url: string, onPayload: (p: Uint8Array) => void): Promise<BenchClient> {
  const id = crypto.getRandomValues(new Uint8Array(16));
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.binaryType = "nodebuffer";
  return new Promise((resolve, reject) => {
    let registered = false;
    ws.on("error", reject);
    ws.on("open", () => ws.send(id));
    ws.on("message", (data: Buffer) => {
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      if (registered) return onPayload(bytes.subarray(16));
      registered = true;
      resolve({
        id,
        failures: 0,
        unanswered: 0,
        send(to, payload) {
          const msg = new Uint8Array(16 + payload.length);
          msg.set(to, 0);
          msg.set(payload, 16);
          ws.send(msg);
        },
        close: () =>
          new Promise<void>((r) => {
            if (ws.readyState === WebSocket.CLOSED) return r();
            ws.once("close", () => r());
            ws.close();
          }),
      });
    });
  });
}

/**
 * Relay flags that lift the per-IP limits: every benchmark client connects from 127.0.0.1, so a
 * per-IP limit would measure the limit, not the relay.
 */
export const LIFT_PER_IP = [
  ["--max-sessions-per-ip", "10000000"],
  ["--max-connections-per-ip", "10000000"],
  ["--max-pending-handshakes-per-ip", "1000000"],
  ["--handshakes-per-ip", "1000000"],
  ["--handshake-burst", "1000000"],
  ["--key-lookups-per-ip", "1000000"],
].flat();

/** Relay flags that lift the per-session limits (frame and byte rates, queue size). */
export const LIFT_PER_SESSION = [
  ["--frames-per-second", "100000000"],
  ["--frame-burst", "100000000"],
  ["--bytes-per-second", String(2 ** 40)],
  ["--max-queue-bytes", "268435456"],
].flat();

/** Starts `schied relay` (via tests/harness.ts) with limits lifted for benchmarking. */
export async function startSchied(extraArgs: string[] = []): Promise<BenchServer> {
  const relay: RelayProcess = await startRelayProcess({
    args: [...LIFT_PER_SESSION, "--quiet", ...extraArgs],
  });
  return {
    name: "schied",
    pid: relay.child.pid,
    async connect(onPayload) {
      let failures = 0;
      const link = await connectClient(relay.address, {
        onDeliver: (_from, env) => onPayload(env),
      });
      return {
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
          });
        },
        close: async () => void await link.close(),
      };
    },
    async counters() {
      const text = await (await fetch(`${relay.metrics}/metrics`)).text();
      const out: Record<string, number> = {};
      for (const m of text.matchAll(/^schied_(\w+) (\d+)$/gm)) out[m[1]!] = Number(m[2]);
      return out;
    },
    async stop() {
      await relay.stop();
      await Deno.remove(relay.stateDir, { recursive: true }).catch(() => {});
    },
    kill() {
      relay.kill("SIGKILL");
      try {
        Deno.removeSync(relay.stateDir, { recursive: true });
      } catch { /* best effort */ }
    },
  };
}

let clockTicks: number | undefined;

/**
 * Output of a short command, or null. /proc is read through `cat` because Deno asks for
 * --allow-all to read /proc directly, and the benchmark runs with narrower permissions.
 */
export async function commandText(cmd: string, args: string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command(cmd, { args, stdin: "null", stderr: "null" }).output();
    return out.success ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc; null off Linux. */
export async function processCpuSeconds(pid: number): Promise<number | null> {
  clockTicks ??= Number((await commandText("getconf", ["CLK_TCK"]))?.trim()) || 100;
  const stat = await commandText("cat", [`/proc/${pid}/stat`]);
  if (!stat) return null;
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / clockTicks; // utime, stime (fields 14, 15)
}
