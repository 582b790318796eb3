/**
 * The suite's rows: names, units, targets (issue 8, "Targets"), and how a measured row becomes a
 * results-file row and a line of the markdown table. Pure: no I/O.
 *
 * @module
 */
import { ratio, type ResultRow, type RowReport, type Summary, tidy } from "./_stats.ts";

/** The rows of the results file, in order (the last one is an extra, not a target). */
export const ROW_NAMES = [
  "e2e_throughput",
  "e2e_p99_500",
  "relay_1k_100x2",
  "relay_1k_10x16",
  "relay_p99_5k",
  "relay_p99_20k",
  "logins_per_s",
  "idle_kib_5k",
  "overload_rss_growth",
  "python_seed_ratio",
  "send_wall_ms",
  "cluster_cross_node",
  "file_throughput",
  "relay_256b_window1000",
] as const;

/** The row that has no target. */
export const EXTRA_ROW = "relay_256b_window1000";

/** A row name. */
export type RowName = typeof ROW_NAMES[number];

interface RowSpec {
  unit: string;
  target: string;
  /** Judges the median and the ratio; absent: the row decides (or has no target). */
  met?: (value: number, ratio: number | null) => boolean;
}

/** Unit and target of each row. */
export const ROW_SPECS: Readonly<Record<RowName, RowSpec>> = {
  e2e_throughput: {
    unit: "msg/s",
    target: "≥ 5,000 msg/s and ≥ 0.5× bare HTTP",
    met: (v, r) => v >= 5000 && r !== null && r >= 0.5,
  },
  e2e_p99_500: { unit: "ms p99", target: "p99 ≤ 10 ms", met: (v) => v <= 10 },
  relay_1k_100x2: { unit: "env/s", target: "≥ 0.7× bare", met: (_, r) => r !== null && r >= 0.7 },
  relay_1k_10x16: { unit: "env/s", target: "≥ 0.7× bare", met: (_, r) => r !== null && r >= 0.7 },
  relay_p99_5k: { unit: "ms p99", target: "p99 ≤ 2 ms", met: (v) => v <= 2 },
  relay_p99_20k: { unit: "ms p99", target: "p99 ≤ 5 ms", met: (v) => v <= 5 },
  logins_per_s: { unit: "logins/s", target: "≥ 2,000/s", met: (v) => v >= 2000 },
  idle_kib_5k: { unit: "KiB/session", target: "≤ 32 KiB", met: (v) => v <= 32 },
  overload_rss_growth: { unit: "MiB", target: "≤ 64 MiB growth, excess refused explicitly" },
  python_seed_ratio: { unit: "×", target: "≥ 2.5× at 10×16 and 100×2" },
  send_wall_ms: { unit: "ms", target: "≤ 150 ms", met: (v) => v <= 150 },
  cluster_cross_node: {
    unit: "env/s",
    target: "≥ 20,000 env/s across two nodes (issue 11)",
    met: (v) => v >= 20_000,
  },
  file_throughput: {
    unit: "MiB/s",
    target: "none set (issue 12: against curl uploading the same file to a bare HTTP server)",
  },
  relay_256b_window1000: { unit: "env/s", target: "none (extra row: not what daemons produce)" },
};

/** What a row's measurement hands back. */
export interface Measured {
  /** The value over rounds (null: not measured). */
  value: Summary | null;
  /** The reference over rounds, if the row has one. */
  reference?: Summary | null;
  /** Overrides value/reference (python_seed_ratio: its worse shape). */
  ratio?: number | null;
  /** Overrides the spec's judgement (rows whose target is not a function of the median). */
  met?: boolean | null;
  /** Notes for the report. */
  notes: string[];
}

/** Turns a measurement into a report row, judging it against its target. */
export function makeRow(name: RowName, m: Measured): RowReport {
  const spec = ROW_SPECS[name];
  const v = m.value && m.value.n > 0 ? m.value.median : null;
  const ref = m.reference && m.reference.n > 0 ? m.reference.median : null;
  const r = m.ratio !== undefined ? m.ratio : ratio(v, ref);
  let met: boolean | null = m.met !== undefined ? m.met : null;
  if (m.met === undefined && spec.met) met = v === null ? false : spec.met(v, r);
  const row: ResultRow = {
    name,
    value: tidy(v),
    unit: spec.unit,
    reference: tidy(ref),
    ratio: r === null ? null : Number(r.toFixed(3)),
    target: spec.target,
    met,
  };
  return {
    row,
    ...(m.value ? { value: m.value } : {}),
    ...(m.reference ? { reference: m.reference } : {}),
    notes: m.notes,
  };
}

/** The row of a measurement that failed or did not run: no value, not met, the reason noted. */
export function failedRow(name: RowName, why: string): RowReport {
  return makeRow(name, { value: null, met: name === EXTRA_ROW ? null : false, notes: [why] });
}

/** A figure for humans: thousands separated, three significant digits below 100. */
export function fmt(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString("en-US");
  return String(Number(n.toPrecision(3)));
}

function spread(s: Summary | undefined, median: number | null): string {
  if (median === null) return "—";
  if (!s || s.n < 2) return fmt(median);
  return `${fmt(median)} (${fmt(s.min)}..${fmt(s.max)}, n=${s.n})`;
}

/** The markdown table of the rows, then each row's notes. */
export function markdown(reports: readonly RowReport[]): string {
  const lines = [
    "| row | value: median (min..max, rounds) | unit | reference | ratio | target | met |",
    "|---|---|---|---|---|---|---|",
  ];
  for (const { row, value, reference } of reports) {
    const met = row.met === null ? "—" : row.met ? "yes" : "**no**";
    lines.push(
      `| \`${row.name}\` | ${spread(value, row.value)} | ${row.unit} | ` +
        `${spread(reference, row.reference)} | ${
          row.ratio === null ? "—" : `${fmt(row.ratio)}×`
        } | ` +
        `${row.target} | ${met} |`,
    );
  }
  lines.push("");
  for (const r of reports) {
    if (r.notes.length === 0) continue;
    lines.push(`- \`${r.row.name}\`: ${r.notes.join("; ").replace(/\s*\n\s*/g, " / ")}`);
  }
  return lines.join("\n");
}
