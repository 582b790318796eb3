/**
 * Pure helpers of the benchmark suite: summaries over rounds, percentiles, ratios, and the shape
 * of the results file. No I/O here (tests/bench/stats_test.ts covers it).
 *
 * @module
 */

/** The median and the range of a row's rounds. */
export interface Summary {
  /** Median (the lower middle for an even count, so it is always a measured value). */
  median: number;
  /** Smallest round. */
  min: number;
  /** Largest round. */
  max: number;
  /** Rounds. */
  n: number;
}

/**
 * Median, min and max of `xs`, ignoring non-finite entries; NaN everywhere when none is left.
 *
 * @example
 * ```ts
 * summarize([3, 1, 2, 10]); // { median: 2, min: 1, max: 10, n: 4 }
 * ```
 */
export function summarize(xs: readonly number[]): Summary {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  return { median: s[Math.floor((s.length - 1) / 2)]!, min: s[0]!, max: s.at(-1)!, n: s.length };
}

/**
 * Nearest-rank percentile `q` (0..1) of an ascending array; NaN when empty.
 *
 * @example
 * ```ts
 * percentile(Float64Array.of(1, 2, 3, 4), 0.5); // 2
 * ```
 */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/** p50, p99 and max of latency samples (any order), in their unit. */
export function latencies(samples: Float64Array): { p50: number; p99: number; max: number } {
  const s = samples.slice().sort();
  return { p50: percentile(s, 0.5), p99: percentile(s, 0.99), max: s.length ? s.at(-1)! : NaN };
}

/**
 * `items` in order on odd rounds, reversed on even ones: no server always runs first.
 *
 * @example
 * ```ts
 * alternate(["bare", "schied"], 2); // ["schied", "bare"]
 * ```
 */
export function alternate<T>(items: readonly T[], round: number): T[] {
  return round % 2 === 1 ? [...items] : [...items].reverse();
}

/** `a / b`, or null when either is missing or `b` is 0. */
export function ratio(a: number | null, b: number | null): number | null {
  if (a === null || b === null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) {
    return null;
  }
  return a / b;
}

/** One row of the results file: exactly these keys. */
export interface ResultRow {
  /** The row's name (ROW_NAMES). */
  name: string;
  /** The median of the row's rounds, or null when it could not be measured. */
  value: number | null;
  /** Its unit. */
  unit: string;
  /** The reference's median in the same unit, or null when the row has none. */
  reference: number | null;
  /** value / reference (for python_seed_ratio: the lower of its two shapes), or null. */
  ratio: number | null;
  /** The target, in words. */
  target: string;
  /** Whether the target is met; null for a row without a target. */
  met: boolean | null;
}

/** A row as the suite reports it: the results-file row plus the spread and notes. */
export interface RowReport {
  /** What goes into the results file. */
  row: ResultRow;
  /** Spread of the value over rounds. */
  value?: Summary;
  /** Spread of the reference over rounds. */
  reference?: Summary;
  /** How it was measured, side figures, warnings. */
  notes: string[];
}

/** The results file: `{"machine": {...}, "rows": [...]}`. */
export interface Results {
  /** The machine and the run. */
  machine: Record<string, unknown>;
  /** One entry per row name, in ROW_NAMES order. */
  rows: ResultRow[];
}

const ROW_KEYS = ["name", "value", "unit", "reference", "ratio", "target", "met"];

/**
 * What is wrong with `x` as a results file with rows `names` (in that order); [] when nothing.
 *
 * @example
 * ```ts
 * resultsProblems({ machine: {}, rows: [] }, ["a"]); // ["rows: expected a, got (none)"]
 * ```
 */
export function resultsProblems(x: unknown, names: readonly string[]): string[] {
  const out: string[] = [];
  if (typeof x !== "object" || x === null) return ["not an object"];
  const o = x as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(",");
  if (keys !== "machine,rows") out.push(`top-level keys: ${keys}`);
  if (typeof o.machine !== "object" || o.machine === null) out.push("machine: not an object");
  if (!Array.isArray(o.rows)) return [...out, "rows: not an array"];
  const got = o.rows.map((r) => (r as { name?: unknown })?.name);
  if (got.join(",") !== names.join(",")) {
    out.push(`rows: expected ${names.join(",")}, got ${got.join(",") || "(none)"}`);
  }
  for (const r of o.rows as Record<string, unknown>[]) {
    const name = String(r?.name);
    if (Object.keys(r ?? {}).sort().join(",") !== [...ROW_KEYS].sort().join(",")) {
      out.push(`${name}: keys ${Object.keys(r ?? {}).join(",")}`);
      continue;
    }
    for (const k of ["value", "reference", "ratio"]) {
      const v = r[k];
      if (v !== null && !(typeof v === "number" && Number.isFinite(v))) {
        out.push(`${name}: ${k} must be a finite number or null`);
      }
    }
    if (typeof r.unit !== "string" || typeof r.target !== "string") {
      out.push(`${name}: unit and target must be strings`);
    }
    if (r.met !== null && typeof r.met !== "boolean") out.push(`${name}: met must be boolean`);
  }
  return out;
}

/** Rounds a figure for the results file: 3 significant digits below 100, whole above. */
export function tidy(n: number | null): number | null {
  if (n === null || !Number.isFinite(n)) return null;
  if (Math.abs(n) >= 100) return Math.round(n);
  return Number(n.toPrecision(3));
}
