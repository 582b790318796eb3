/**
 * Each group of rows runs in a fresh process of this suite, so that no row inherits the load
 * generator's state from the rows before it. Why: the relay's p99 at 5,000 env/s measured
 * ~4 ms when its rows ran alone and ~30 ms when they ran after the throughput rows in the same
 * process (its heap ~230 MB after 200 clients): the generator's own GC pauses became part of
 * the measured latency, more for schied's clients (which allocate more per envelope) than for
 * the bare forwarder's. A fresh process per group measures every row the same way whatever
 * ran before it, and `--only` gives the same figures as a full run.
 *
 * The parent writes what the groups share (capacities measured earlier for the overload row,
 * whether the Python seed relay can run) into a file, the child reads it, runs its group and
 * writes its reports and the updated shared state back into the same file.
 *
 * @module
 */
import type { Ctx } from "./_ctx.ts";
import { track } from "./_procs.ts";
import type { RowReport } from "./_stats.ts";

/** What the groups of one run share. */
export interface Shared {
  capacity: Ctx["capacity"];
  pythonWhyNot?: string | null;
}

/** What a group's process hands back. */
export interface GroupOutcome {
  reports: RowReport[];
  shared: Shared;
  /** Why the group failed, if it did. */
  error?: string;
}

/** Time a child has after SIGTERM (it kills its own children) before it is killed. */
const TERM_GRACE_MS = 5_000;

/**
 * Runs group `index` in a child process (`Deno.execPath() run …permissions main …args --group
 * index --group-io FILE`) within `limitMs`; the reports it wrote, or an error outcome.
 */
export async function runIsolated(
  command: string[],
  index: number,
  shared: Shared,
  limitMs: number,
): Promise<GroupOutcome> {
  const io = await Deno.makeTempFile({ prefix: "schied-bench-group-", suffix: ".json" });
  try {
    await Deno.writeTextFile(io, JSON.stringify(shared));
    const child = new Deno.Command(Deno.execPath(), {
      args: [...command, "--group", String(index), "--group-io", io],
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    const untrack = track(() => child.kill("SIGTERM")); // its handler kills its children
    let timer: ReturnType<typeof setTimeout> | undefined;
    let killer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => {
        resolve("timeout");
        try {
          child.kill("SIGTERM");
        } catch { /* gone */ }
        killer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* gone */ }
        }, TERM_GRACE_MS);
      }, limitMs);
    });
    const status = await Promise.race([child.status, timedOut]);
    clearTimeout(timer);
    await child.status;
    clearTimeout(killer);
    untrack();
    if (status === "timeout") {
      return { reports: [], shared, error: `timed out after ${limitMs / 1000} s` };
    }
    const out = JSON.parse(await Deno.readTextFile(io)) as Partial<GroupOutcome>;
    if (!Array.isArray(out.reports)) {
      return { reports: [], shared, error: `its process exited with ${status.code}, no reports` };
    }
    return { reports: out.reports, shared: out.shared ?? shared, error: out.error };
  } finally {
    await Deno.remove(io).catch(() => {});
  }
}

/** In the child: the shared state the parent wrote. */
export async function readShared(io: string): Promise<Shared> {
  return JSON.parse(await Deno.readTextFile(io)) as Shared;
}

/** In the child: hands the group's outcome back. */
export async function writeOutcome(io: string, outcome: GroupOutcome): Promise<void> {
  await Deno.writeTextFile(io, JSON.stringify(outcome));
}
