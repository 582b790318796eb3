/**
 * `file_throughput` (issue 12): a file from daemon A to daemon B through a relay, in MiB/s: the
 * wall time from the start of `curl -T FILE` to A's API (`PUT /files`) until B reports the file
 * `complete` (received, every chunk opened, size and SHA-256 verified, moved into place). 32 MiB
 * a round (8 MiB with --quick), a new file each round. Reference, in the same run: `curl -T` of
 * the same file to bare_http.ts's `PUT /files`, which reads the body and discards it.
 *
 * @module
 */
import { alternate, type Ctx } from "./_ctx.ts";
import { Scope, startDaemonPair, startRelay, startScript } from "./_procs.ts";
import { fmt, makeRow } from "./_rows.ts";
import { LIFT_PER_IP, LIFT_PER_SESSION } from "./_servers.ts";
import { type RowReport, summarize } from "./_stats.ts";

const BARE_HTTP = new URL("./bare_http.ts", import.meta.url).pathname;
const MIB = 1024 * 1024;

/** `curl -T path url` with `headers`; its answer's body (throws on a non-2xx or a failure). */
async function curlPut(path: string, url: string, headers: string[]): Promise<string> {
  const out = await new Deno.Command("curl", {
    args: ["-sS", "--fail-with-body", ...headers.flatMap((h) => ["-H", h]), "-T", path, url],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`curl: ${new TextDecoder().decode(out.stderr)} ${text}`);
  return text;
}

/** Polls `GET /files/{id}?info=1` at B until the file is complete (bounded); throws if failed. */
async function untilComplete(b: { apiUrl: string; token: string }, id: string): Promise<void> {
  const end = performance.now() + 120_000;
  while (performance.now() < end) {
    const res = await fetch(`${b.apiUrl}/files/${id}?info=1`, {
      headers: { authorization: `Bearer ${b.token}` },
    });
    const f = res.ok ? await res.json() as { state: string; reason?: string } : undefined;
    if (!res.ok) await res.body?.cancel();
    if (f?.state === "complete") return;
    if (f?.state === "failed") throw new Error(`file ${id} failed: ${f.reason}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`file ${id} not complete within 120 s`);
}

/** Runs the file row, if `ctx` wants it. */
export async function fileRows(ctx: Ctx): Promise<RowReport[]> {
  if (!ctx.want("file_throughput")) return [];
  const scope = new Scope();
  const dir = await Deno.makeTempDir({ prefix: "schied-bench-file-" });
  scope.defer(() => Deno.remove(dir, { recursive: true }).catch(() => {}));
  try {
    const relay = await startRelay(scope, [...LIFT_PER_SESSION, ...LIFT_PER_IP]);
    const { a, b } = await startDaemonPair(scope, relay.address);
    const bare = await startScript(scope, BARE_HTTP, ["--max-seconds", String(ctx.maxLifeS)]);
    const size = (ctx.quick ? 8 : 32) * MIB;
    const schied: number[] = [], ref: number[] = [];
    const notes: string[] = [];
    for (let r = 0; r <= ctx.rounds; r++) { // round 0 warms up
      const path = `${dir}/round-${r}.bin`;
      const bytes = new Uint8Array(size);
      for (let o = 0; o < size; o += 65536) crypto.getRandomValues(bytes.subarray(o, o + 65536));
      await Deno.writeFile(path, bytes);
      for (const side of alternate(["schied", "bare"] as const, r)) {
        const t0 = performance.now();
        if (side === "schied") {
          const url = `${a.apiUrl}/files?to=${b.id}&name=round-${r}.bin`;
          const f = JSON.parse(await curlPut(path, url, [`authorization: Bearer ${a.token}`]));
          const accepted = performance.now();
          await untilComplete(b, f.id);
          const s = (performance.now() - t0) / 1000;
          if (r > 0) {
            schied.push(size / MIB / s);
            notes.push(
              `round ${r}: accepted (sealed into A's store) after ` +
                `${fmt((accepted - t0) / 1000)} s, complete at B after ${fmt(s)} s`,
            );
          }
        } else {
          await curlPut(path, `${bare.url}/files`, []);
          if (r > 0) ref.push(size / MIB / ((performance.now() - t0) / 1000));
        }
      }
      await Deno.remove(path);
      ctx.log(
        `file_throughput round ${r}: schied ${fmt(schied.at(-1))} MiB/s, bare ${fmt(ref.at(-1))}`,
      );
    }
    return [makeRow("file_throughput", {
      value: summarize(schied),
      reference: summarize(ref),
      notes: [
        `${size / MIB} MiB a round, ${ctx.rounds} rounds after a warm-up; from the start of ` +
        "curl -T to A until B has verified it, through the relay; reference: curl -T to a bare " +
        "Deno HTTP server that discards the body",
        ...notes,
      ],
    })];
  } finally {
    await scope.close();
  }
}
