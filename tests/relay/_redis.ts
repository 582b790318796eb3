/**
 * A private `redis-server` for a test: its own loopback port and temporary dir, AOF on, no RDB
 * snapshots (never the system one, never port 6379). Stopped (and restartable) by pid.
 *
 * @module
 */
import { freePort, waitFor } from "../harness.ts";

/** A running test Redis. */
export interface TestRedis {
  /** `redis://127.0.0.1:PORT`. */
  url: string;
  port: number;
  dir: string;
  /** The server's pid (for kill -9). */
  pid(): number;
  /** SIGKILL, like a crash. */
  kill(): Promise<void>;
  /** Starts it again on the same port and dir (the AOF brings the data back). */
  restart(): Promise<void>;
  /** Stops it and removes its dir. */
  stop(): Promise<void>;
}

async function ping(port: number): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      await c.write(new TextEncoder().encode("PING\r\n"));
      const b = new Uint8Array(16);
      const n = await c.read(b);
      return n !== null && new TextDecoder().decode(b.subarray(0, n)).startsWith("+PONG");
    } finally {
      c.close();
    }
  } catch {
    return false;
  }
}

/** Starts redis-server (Debian's package; .ci/run installs it). */
export async function startRedis(): Promise<TestRedis> {
  const port = freePort();
  const dir = await Deno.makeTempDir({ prefix: "schied-redis-" });
  let child: Deno.ChildProcess;
  const spawn = async () => {
    child = new Deno.Command("redis-server", {
      args: [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--dir",
        dir,
        "--maxmemory-policy",
        "noeviction",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitFor(() => ping(port), `redis-server on ${port}`, 10_000);
  };
  await spawn();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    pid: () => child.pid,
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
    },
    restart: spawn,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
