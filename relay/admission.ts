/**
 * Who may hold the relay's scarce slots: handshakes in progress and logged-in sessions, counted
 * per source (an IPv4 address or an IPv6 /64, lib/net sourceKey) and in total.
 *
 * Each source has caps far below the global ones, so one source alone can never fill the relay.
 * When a global cap is reached anyway (many sources), the newcomer does not simply lose: the
 * source holding the most slots gives one up, unless it holds no more than the newcomer's own
 * source already does. Many sources can therefore only push every source down to an equal share;
 * none can lock the others out. Pure state, no I/O: the link layer holds the slots and is told
 * which one to give up.
 *
 * @module
 */

/** Something holding a slot: a handshake in progress or a session. */
export interface SlotHolder {
  /** The source it is counted under. */
  readonly source: string;
  /** Gives the slot up (closes the handshake or the session with `server_busy`). */
  evict(): void;
}

/** The outcome of asking for a slot. */
export type Admit = "ok" | "per_source" | "full";

/**
 * One kind of slot (handshakes, or sessions) with a global and a per-source cap.
 *
 * @example
 * ```ts
 * const pending = new SlotPool<Link>(512, 16);
 * if (pending.admit(link) !== "ok") refuse();
 * pending.release(link);
 * ```
 */
export class SlotPool<T extends SlotHolder> {
  readonly #bySource = new Map<string, Set<T>>(); // insertion order = age
  #size = 0;

  /** @param max the global cap; @param maxPerSource the cap per source */
  constructor(public max: number, public maxPerSource: number) {}

  /** Slots held now. */
  get size(): number {
    return this.#size;
  }

  /** Slots held by `source`. */
  countOf(source: string): number {
    return this.#bySource.get(source)?.size ?? 0;
  }

  /** True if `h` holds a slot. */
  has(h: T): boolean {
    return this.#bySource.get(h.source)?.has(h) ?? false;
  }

  /**
   * What `admit(h)` would answer, without evicting anything: `full` only when the global cap is
   * reached and no source holds more slots than `h`'s own.
   */
  check(h: T): Admit {
    if (this.has(h)) return "ok";
    const mine = this.countOf(h.source);
    if (mine >= this.maxPerSource) return "per_source";
    if (this.#size < this.max) return "ok";
    for (const set of this.#bySource.values()) if (set.size > mine) return "ok";
    return "full";
  }

  /**
   * Gives `h` a slot: refused over its source's cap; at the global cap, the biggest source's
   * `victim` (its newest for sessions, its oldest for handshakes) is evicted first, if that
   * source holds more than `h`'s own.
   */
  admit(h: T, victim: "newest" | "oldest"): Admit {
    if (this.has(h)) return "ok";
    const mine = this.countOf(h.source);
    if (mine >= this.maxPerSource) return "per_source";
    if (this.#size >= this.max) {
      let biggest: Set<T> | undefined;
      for (const set of this.#bySource.values()) {
        if (!biggest || set.size > biggest.size) biggest = set;
      }
      if (!biggest || biggest.size <= mine) return "full";
      const list = [...biggest];
      const out = victim === "oldest" ? list[0]! : list[list.length - 1]!;
      this.release(out);
      out.evict();
      if (this.#size >= this.max) return "full";
    }
    let set = this.#bySource.get(h.source);
    if (!set) this.#bySource.set(h.source, set = new Set());
    set.add(h);
    this.#size++;
    return "ok";
  }

  /** Frees the slot of `h`, if it holds one. */
  release(h: T): void {
    const set = this.#bySource.get(h.source);
    if (!set?.delete(h)) return;
    this.#size--;
    if (set.size === 0) this.#bySource.delete(h.source);
  }
}
