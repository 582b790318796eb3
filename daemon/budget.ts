/**
 * Budgets for the work envelopes can make this daemon do: answering handshakes (key generations,
 * DHs and an ML-KEM encapsulation each), which anyone who knows an id can ask for, and deriving
 * skipped message keys (one HMAC chain step, 8–28 µs here, per key), which only a peer with a
 * session can ask for (the ratchet derives nothing before a header authenticates, and asks this
 * budget first: protocol/README.md, section 11.3). A stranger can make a session with anyone, so
 * both are bounded: each peer has its own token buckets, and so do all strangers (ids that are
 * not contacts) together; strangers cannot spend a contact's share. An envelope over budget is
 * dropped unread, and the state stays as it was.
 *
 * @module
 */
import { TokenBucket } from "../protocol/token_bucket.ts";

/** The budgets, per minute (a bucket refills continuously; the burst is what it starts with). */
export const BUDGETS = {
  /**
   * Skipped keys one peer may make us derive per minute, and at once: two messages at the most
   * one may cost (2 × RATCHET_MAX_SKIP = 2,000). Messages that arrive in order cost nothing.
   */
  skipPerPeer: { perMinute: 4000, burst: 4000 },
  /**
   * Skipped keys all strangers together: at ≤ 28 µs a step, at most 0.6 s of CPU a minute. Not
   * spent by contacts (each bounded by skipPerPeer): were it shared, a few strangers with
   * sessions could keep it empty and stall every contact's message that comes after a gap.
   */
  skipStrangers: { perMinute: 20_000, burst: 20_000 },
  /** Handshakes one peer may make us answer or start: a restart or two, and some slack. */
  handshakesPerPeer: { perMinute: 6, burst: 3 },
  /** Handshakes all strangers (ids that are not contacts) together. */
  handshakesStrangers: { perMinute: 60, burst: 20 },
} as const;

/** Peers with a bucket at once; buckets that refilled are dropped first. */
export const MAX_TRACKED_PEERS = 4096;

type Spec = { perMinute: number; burst: number };

class PerPeer {
  readonly #map = new Map<string, TokenBucket>();
  constructor(readonly spec: Spec) {}

  bucket(peer: string, now: number): TokenBucket | undefined {
    let b = this.#map.get(peer);
    if (!b) {
      if (this.#map.size >= MAX_TRACKED_PEERS) {
        for (const [k, v] of this.#map) if (v.isFull(now)) this.#map.delete(k);
      }
      if (this.#map.size >= MAX_TRACKED_PEERS) return undefined; // fail closed
      b = new TokenBucket(this.spec.perMinute / 60, this.spec.burst, now);
      this.#map.set(peer, b);
    }
    return b;
  }
}

function total(spec: Spec, now: number): TokenBucket {
  return new TokenBucket(spec.perMinute / 60, spec.burst, now);
}

/**
 * The daemon's budgets for unauthenticated work.
 *
 * @example
 * ```ts
 * const b = new WorkBudget(Date.now);
 * if (!b.skip(peer, gap, stranger)) return; // dropped, nothing derived
 * ```
 */
export class WorkBudget {
  readonly #skipPeer = new PerPeer(BUDGETS.skipPerPeer);
  readonly #skipStrangers: TokenBucket;
  readonly #hsPeer = new PerPeer(BUDGETS.handshakesPerPeer);
  readonly #hsStrangers: TokenBucket;
  /** Envelopes dropped for want of budget (for status and tests). */
  dropped = 0;

  /** @param now the clock */
  constructor(readonly now: () => number = Date.now) {
    this.#skipStrangers = total(BUDGETS.skipStrangers, now());
    this.#hsStrangers = total(BUDGETS.handshakesStrangers, now());
  }

  /**
   * Takes `steps` skipped-key derivations for `peer` (a stranger also spends from the strangers'
   * budget); false (nothing taken) over budget.
   */
  skip(peer: string, steps: number, stranger = true): boolean {
    if (steps <= 0) return true;
    const now = this.now();
    const b = this.#skipPeer.bucket(peer, now);
    const ok = !!b && b.waitMs(now, steps) === 0 &&
      (!stranger || this.#skipStrangers.waitMs(now, steps) === 0);
    if (ok) {
      b!.take(now, steps);
      if (stranger) this.#skipStrangers.take(now, steps);
    } else this.dropped++;
    return ok;
  }

  /** Takes one handshake for `peer` (a stranger also spends from the strangers' budget). */
  handshake(peer: string, stranger: boolean): boolean {
    const now = this.now();
    const b = this.#hsPeer.bucket(peer, now);
    const ok = !!b && b.waitMs(now) === 0 && (!stranger || this.#hsStrangers.waitMs(now) === 0);
    if (ok) {
      b!.take(now);
      if (stranger) this.#hsStrangers.take(now);
    } else this.dropped++;
    return ok;
  }
}
