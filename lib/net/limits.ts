/**
 * Connection limits shared by the relay and the local API: the process's descriptor limit, the
 * key a source address is counted under, and the gate that admits connections.
 *
 * @module
 */

/** Descriptors kept free for everything but connections: databases, files, the runtime. */
export const MIN_FD_HEADROOM = 64;

/** Descriptor limit assumed when `/proc/self/limits` cannot be read (the usual soft default). */
export const FALLBACK_FD_LIMIT = 1024;

/**
 * The soft limit on open descriptors (RLIMIT_NOFILE) of this process: `SCHIED_FD_LIMIT`, which
 * the launcher (scripts/schied) sets after raising the soft limit to the hard one, as Deno reads
 * `/proc/self/limits` only with --allow-all; else that file; else FALLBACK_FD_LIMIT.
 */
export function descriptorLimit(): number {
  try {
    const env = Number(Deno.env.get("SCHIED_FD_LIMIT"));
    if (Number.isSafeInteger(env) && env > 0) return env;
  } catch {
    // no env permission
  }
  try {
    const text = Deno.readTextFileSync("/proc/self/limits");
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
    if (m) return m[1] === "unlimited" ? 1 << 20 : Number(m[1]);
  } catch {
    // not Linux, or not allowed to read it
  }
  return FALLBACK_FD_LIMIT;
}

/**
 * How many connections a process may hold with `fdLimit` descriptors: the limit less a headroom
 * of 5 % (at least MIN_FD_HEADROOM), so that accepting, opening a database or a file never fails
 * for want of a descriptor.
 */
export function connectionBudget(fdLimit = descriptorLimit()): number {
  return Math.max(1, fdLimit - Math.max(MIN_FD_HEADROOM, Math.ceil(fdLimit * 0.05)));
}

function expandIpv6(text: string): number[] | undefined {
  let s = text.toLowerCase();
  const pct = s.indexOf("%");
  if (pct >= 0) s = s.slice(0, pct); // zone id
  const tail: number[] = [];
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const b = v4.slice(1).map(Number);
    if (b.some((x) => x > 255)) return undefined;
    tail.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
    s = s.slice(0, v4.index) + "0:0";
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  // A group is 1 to 4 hex digits (parseInt alone would take "12zz" as 0x12).
  const group = (g: string) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN);
  const parse = (h: string) => (h === "" ? [] : h.split(":").map(group));
  const left = parse(halves[0]!), right = halves.length === 2 ? parse(halves[1]!) : [];
  const fill = 8 - left.length - right.length;
  // "::" stands for at least one group of zeros; without it there must be eight groups.
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const groups = [...left, ...Array(fill).fill(0), ...right];
  if (tail.length) groups.splice(6, 2, ...tail);
  return groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff) ? undefined : groups;
}

/**
 * The key a source address is counted under: an IPv4 address itself, an IPv6 address by its
 * /64 prefix (one subscriber usually gets a whole /64, so counting single addresses would let it
 * take 2^64 slots), and an IPv4-mapped IPv6 address as the IPv4 address.
 *
 * @example
 * ```ts
 * sourceKey("2001:db8::1"); // "2001:db8:0:0::/64"
 * sourceKey("::ffff:192.0.2.7"); // "192.0.2.7"
 * ```
 */
export function sourceKey(hostname: string): string {
  if (!hostname.includes(":")) return hostname;
  const g = expandIpv6(hostname);
  if (!g) return hostname;
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return `${g[6]! >>> 8}.${g[6]! & 0xff}.${g[7]! >>> 8}.${g[7]! & 0xff}`;
  }
  return `${g.slice(0, 4).map((x) => x.toString(16)).join(":")}::/64`;
}

/** What the gate needs of a connection it may evict. */
export interface Evictable {
  /** The source key it is counted under. */
  readonly source: string;
  /** Closes it (it then calls `release`). */
  evict(): void;
}

/** Why a connection was refused. */
export type Refusal = "per_source" | "total";

/**
 * Admits connections within a total cap and a per-source cap. Connections start _untrusted_
 * (no authenticated request or login yet); at the total cap, the oldest untrusted connection of
 * the source holding the most untrusted ones is evicted to make room, so sources that only open
 * connections cannot lock others out. Over the per-source cap a newcomer is refused at once.
 */
export class ConnectionGate<C extends Evictable> {
  readonly #untrusted = new Map<string, Set<C>>(); // insertion order = age
  readonly #held = new Set<C>();
  readonly #perSource = new Map<string, number>();
  readonly #since = new WeakMap<C, number>();
  #total = 0;
  #released: (() => void) | undefined;

  /**
   * @param max total cap; @param maxPerSource cap per source key
   * @param evictAfterMs untrusted connections younger than this are not evicted
   * @param now the clock (ms)
   */
  constructor(
    readonly max: number,
    readonly maxPerSource: number,
    readonly evictAfterMs = 0,
    readonly now: () => number = Date.now,
  ) {}

  /** True if a newcomer could be admitted now: under the cap, or with a connection to evict. */
  hasRoom(): boolean {
    return this.#total < this.max || this.#victim(undefined) !== undefined;
  }

  /** Resolves at the next release, or after `ms` at the latest. */
  released(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      const prev = this.#released;
      this.#released = () => {
        prev?.();
        done();
      };
    });
  }

  /** Connections held now. */
  get size(): number {
    return this.#total;
  }

  /** Connections held by one source. */
  countOf(source: string): number {
    return this.#perSource.get(source) ?? 0;
  }

  /** Admits `c` (counted as untrusted), evicting if need be; or says why not. */
  admit(c: C): Refusal | undefined {
    const n = this.#perSource.get(c.source) ?? 0;
    if (n >= this.maxPerSource) return "per_source";
    if (this.#total >= this.max && !this.#evictOne(c.source)) return "total";
    // Re-read: the eviction may have been of this source's own oldest.
    this.#perSource.set(c.source, (this.#perSource.get(c.source) ?? 0) + 1);
    this.#total++;
    this.#held.add(c);
    this.#since.set(c, this.now());
    let set = this.#untrusted.get(c.source);
    if (!set) this.#untrusted.set(c.source, set = new Set());
    set.add(c);
    return undefined;
  }

  /** True while any untrusted connection is held (a source's set goes once it is empty). */
  get hasUntrusted(): boolean {
    return this.#untrusted.size > 0;
  }

  /** True unless `c` is held and untrusted. */
  isTrusted(c: C): boolean {
    return !(this.#untrusted.get(c.source)?.has(c) ?? false);
  }

  /** Marks `c` trusted: it is no longer evicted to make room. */
  trust(c: C): void {
    const set = this.#untrusted.get(c.source);
    if (set?.delete(c) && set.size === 0) this.#untrusted.delete(c.source);
  }

  /** Forgets `c` (closed). Safe to call twice. */
  release(c: C, wasAdmitted: boolean): void {
    if (!wasAdmitted || !this.#held.delete(c)) return; // a second release counts nothing
    this.trust(c);
    const n = (this.#perSource.get(c.source) ?? 1) - 1;
    if (n <= 0) this.#perSource.delete(c.source);
    else this.#perSource.set(c.source, n);
    this.#total--;
    const wake = this.#released;
    this.#released = undefined;
    wake?.();
  }

  /**
   * The connection to evict for a newcomer from `newcomer`: the oldest untrusted one of the
   * source holding the most (on a tie the newcomer's own, so that a source making a new
   * connection first gives up its own oldest), if it is at least evictAfterMs old.
   */
  #victim(newcomer: string | undefined): C | undefined {
    let victim = newcomer === undefined ? undefined : this.#untrusted.get(newcomer);
    for (const set of this.#untrusted.values()) {
      if (!victim || set.size > victim.size) victim = set;
    }
    if (!victim || victim.size === 0) return undefined;
    const oldest = victim.values().next().value as C;
    const age = this.now() - (this.#since.get(oldest) ?? 0);
    return age >= this.evictAfterMs ? oldest : undefined;
  }

  #evictOne(newcomer: string): boolean {
    const oldest = this.#victim(newcomer);
    if (!oldest) return false;
    const before = this.#total;
    oldest.evict();
    return this.#total < before;
  }
}
