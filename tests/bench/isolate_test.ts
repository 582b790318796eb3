/**
 * scripts/bench/_isolate.ts: a group's process gets the shared state, hands reports back, and
 * one that hangs or writes nothing becomes an error outcome (and is stopped) instead of a hang.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { runIsolated, type Shared } from "../../scripts/bench/_isolate.ts";

/** A stand-in for main.ts: `BODY` runs with `io` (the --group-io file) and `group`. */
async function script(
  body: string,
): Promise<{ command: string[]; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "schied-isolate-test-" });
  const path = `${dir}/child.ts`;
  await Deno.writeTextFile(
    path,
    `const a = Deno.args; const io = a[a.indexOf("--group-io") + 1]!;
const group = Number(a[a.indexOf("--group") + 1]);
${body}
`,
  );
  return {
    command: ["--allow-read", "--allow-write", path, "--quick"],
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

const shared: Shared = { capacity: { e2e: 1234 }, pythonWhyNot: null };

Deno.test("bench isolation: the child reads the shared state and hands reports back", async () => {
  await using s = await script(`
const sh = JSON.parse(Deno.readTextFileSync(io));
const row = { name: "e2e_throughput", value: sh.capacity.e2e + group, unit: "msg/s", reference: null, ratio: null, target: "", met: false };
Deno.writeTextFileSync(io, JSON.stringify({ reports: [{ row, notes: [a.includes("--quick") ? "quick" : "full"] }], shared: { ...sh, capacity: { ...sh.capacity, relay1k100x2: 99 } } }));
`);
  const out = await runIsolated(s.command, 3, shared, 30_000);
  assertEquals(out.error, undefined);
  assertEquals(out.reports.map((r) => [r.row.value, r.notes]), [[1237, ["quick"]]]);
  assertEquals(out.shared.capacity, { e2e: 1234, relay1k100x2: 99 });
});

Deno.test("bench isolation: a child that writes nothing or hangs is an error, and is stopped", async () => {
  {
    await using s = await script(`Deno.exit(4);`);
    const out = await runIsolated(s.command, 0, shared, 30_000);
    assertEquals(out.reports, []);
    assertOk(/exited with 4/.test(out.error ?? ""), out.error);
    assertEquals(out.shared, shared);
  }
  await using s = await script(`await new Promise(() => setInterval(() => {}, 1000));`);
  const t0 = performance.now();
  const out = await runIsolated(s.command, 0, shared, 500);
  assertOk(/timed out after 0.5 s/.test(out.error ?? ""), out.error);
  assertOk(performance.now() - t0 < 10_000, "stopped by SIGTERM within the grace period");
});
