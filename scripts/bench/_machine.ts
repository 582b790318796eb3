/**
 * The machine a run measured: cores, CPU model, load average, memory, kernel, Deno and V8, date.
 * /proc is read through `cat` (Deno asks for --allow-all to read it directly).
 *
 * @module
 */
import { commandText } from "./_servers.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

/** The 1, 5 and 15 minute load averages, or null off Linux. */
export async function loadAverage(): Promise<number[] | null> {
  const t = await commandText("cat", ["/proc/loadavg"]);
  return t ? t.trim().split(/\s+/).slice(0, 3).map(Number) : null;
}

/** What the results file records under "machine". */
export interface Machine {
  cores: number;
  cpu: string;
  cpu_flags_aes: boolean;
  memory_mib: number | null;
  load_average_start: number[] | null;
  os: string;
  kernel: string | null;
  deno: string;
  v8: string;
  fd_limit: number | null;
  /** The checkout: HEAD and how many files differ from it (other work in progress). */
  git: { head: string | null; changed_files: number | null };
  date: string;
}

/** The machine now: cores, CPU, memory, load average, versions, date. */
export async function machineInfo(): Promise<Machine> {
  const cpuinfo = (await commandText("cat", ["/proc/cpuinfo"])) ?? "";
  const meminfo = (await commandText("cat", ["/proc/meminfo"])) ?? "";
  const memKib = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1]);
  return {
    cores: navigator.hardwareConcurrency,
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    cpu_flags_aes: /^flags\s*:.*\baes\b/m.test(cpuinfo),
    memory_mib: Number.isFinite(memKib) ? Math.round(memKib / 1024) : null,
    load_average_start: await loadAverage(),
    os: `${Deno.build.os}-${Deno.build.arch}`,
    kernel: (await commandText("uname", ["-r"]))?.trim() ?? null,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    fd_limit: Number((await commandText("bash", ["-c", "ulimit -Sn"]))?.trim()) || null,
    git: {
      head: (await commandText("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"]))?.trim() ??
        null,
      changed_files: (await commandText("git", ["-C", ROOT, "status", "--porcelain"]))
        ?.split("\n").filter((l) => l && !l.includes("scripts/bench/results/")).length ?? null,
    },
    date: new Date().toISOString(),
  };
}

/**
 * The soft and hard descriptor limits this process runs under (a child inherits them), or null.
 */
export async function fdLimits(): Promise<{ soft: number; hard: number } | null> {
  const t = await commandText("bash", ["-c", "ulimit -Sn; ulimit -Hn"]);
  if (!t) return null;
  const [soft, hard] = t.trim().split("\n").map((x) => (x === "unlimited" ? 1 << 20 : Number(x)));
  return soft && hard ? { soft, hard } : null;
}
