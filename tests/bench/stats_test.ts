import { assertEquals, assertOk } from "../_assert.ts";
import {
  alternate,
  latencies,
  percentile,
  ratio,
  resultsProblems,
  summarize,
  tidy,
} from "../../scripts/bench/_stats.ts";
import {
  failedRow,
  fmt,
  makeRow,
  markdown,
  ROW_NAMES,
  ROW_SPECS,
} from "../../scripts/bench/_rows.ts";

Deno.test("bench stats: median (lower middle), min, max over finite rounds", () => {
  assertEquals(summarize([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
  assertEquals(summarize([4, 1, 3, 2]), { median: 2, min: 1, max: 4, n: 4 }, "a measured value");
  assertEquals(summarize([5, NaN, Infinity, 7]), { median: 5, min: 5, max: 7, n: 2 });
  const none = summarize([NaN]);
  assertEquals([none.n, Number.isNaN(none.median)], [0, true]);
});

Deno.test("bench stats: nearest-rank percentiles", () => {
  const s = Float64Array.from({ length: 100 }, (_, i) => i + 1);
  assertEquals([percentile(s, 0.5), percentile(s, 0.99), percentile(s, 1)], [50, 99, 100]);
  assertEquals(percentile(Float64Array.of(7), 0.99), 7);
  assertOk(Number.isNaN(percentile(new Float64Array(), 0.5)));
  assertEquals(latencies(Float64Array.of(3, 1, 2)), { p50: 2, p99: 3, max: 3 }, "any order");
});

Deno.test("bench stats: ratio, rounding, alternation", () => {
  assertEquals([ratio(1, 2), ratio(null, 2), ratio(1, 0), ratio(1, NaN)], [0.5, null, null, null]);
  assertEquals([tidy(12345.6), tidy(1.23456), tidy(0.0123456), tidy(NaN)], [
    12346,
    1.23,
    0.0123,
    null,
  ]);
  assertEquals([alternate([1, 2], 1), alternate([1, 2], 2)], [[1, 2], [2, 1]]);
  assertEquals([fmt(12345.6), fmt(1.23456), fmt(null)], ["12,346", "1.23", "—"]);
});

Deno.test("bench rows: judged against the target, from medians", () => {
  const s = (median: number) => ({ median, min: median, max: median, n: 5 });
  const e2e = makeRow("e2e_throughput", { value: s(6000), reference: s(10000), notes: [] });
  assertEquals(e2e.row, {
    name: "e2e_throughput",
    value: 6000,
    unit: "msg/s",
    reference: 10000,
    ratio: 0.6,
    target: ROW_SPECS.e2e_throughput.target,
    met: true,
  });
  const slow = makeRow("e2e_throughput", { value: s(6000), reference: s(20000), notes: [] });
  assertEquals(slow.row.met, false, "fast enough but under 0.5× the reference");
  assertEquals(makeRow("relay_p99_5k", { value: s(2.5), notes: [] }).row.met, false);
  assertEquals(makeRow("send_wall_ms", { value: s(101), notes: [] }).row.met, true);
  const py = makeRow("python_seed_ratio", { value: s(2.7), ratio: 2.7, met: true, notes: [] });
  assertEquals([py.row.ratio, py.row.met, py.row.reference], [2.7, true, null]);
  assertEquals(makeRow("relay_256b_window1000", { value: s(1), notes: [] }).row.met, null);
  assertEquals(failedRow("idle_kib_5k", "x").row.met, false);
  assertEquals(failedRow("relay_256b_window1000", "x").row.met, null, "no target, not failed");
});

Deno.test("bench results: the file's shape is checked, and the table names every row", () => {
  const rows = ROW_NAMES.map((n) => failedRow(n, "not run"));
  const good = { machine: { cores: 2 }, rows: rows.map((r) => r.row) };
  assertEquals(resultsProblems(good, ROW_NAMES), []);
  assertEquals(resultsProblems(JSON.parse(JSON.stringify(good)), ROW_NAMES), [], "round trip");
  const extraKey = { ...good, rows: good.rows.map((r) => ({ ...r, min: 1 })) };
  assertOk(resultsProblems(extraKey, ROW_NAMES).length === ROW_NAMES.length, "exact keys");
  const missing = { machine: {}, rows: good.rows.slice(1) };
  assertOk(resultsProblems(missing, ROW_NAMES)[0]!.startsWith("rows: expected"));
  const nan = { machine: {}, rows: good.rows.map((r) => ({ ...r, value: "1" })) };
  assertOk(resultsProblems(nan, ROW_NAMES).some((p) => p.includes("finite number or null")));
  assertEquals(
    resultsProblems({ machine: {}, rows: [], extra: 1 }, [])[0],
    "top-level keys: extra,machine,rows",
  );
  const table = markdown(rows);
  for (const n of ROW_NAMES) assertOk(table.includes(`| \`${n}\` |`), n);
});
