/**
 * When the receiver acknowledges a peer's messages (protocol/README.md section 11.6): at once
 * for a lone message or the first of a burst, then at most once per E2E_ACK_DELAY_MS while the
 * burst goes on, and at once whenever E2E_ACK_EVERY payloads are waiting. Used only by
 * _delivery_incoming.ts.
 *
 * Why pace them: every acknowledgement is a message of the Double Ratchet, so each one turns the
 * conversation: the receiver seals it in a new sending chain (a DH step, and an ML-KEM part
 * every RATCHET_KEM_PERIOD steps), and the sender opens it, stores the `delivered` statuses
 * (a write and a sync) and starts a new chain itself on its next message. One acknowledgement per
 * stored batch made that work per message at moderate rates: at 500 msg/s, 1,600 acks for 3,000
 * messages; paced, ~40 a second, daemon A's CPU went from ~75 % to ~55 % of a core and
 * `POST /send` → event from p99 ~26 to ~12–22 ms (same machine, alternating runs).
 *
 * @module
 */

/**
 * Acknowledgements of one peer's stream are at most this far apart. Why 25 ms: `delivered`
 * arrives at most that much later than it would (a sender's retry waits RETRY_MS, 3 s, so no
 * retry is ever caused), and at 500 msg/s it makes ~40 turns a second instead of ~400.
 */
export const E2E_ACK_DELAY_MS = 25;
/**
 * Payloads waiting that make an acknowledgement go at once. Why 16: a quarter of FILE_WINDOW
 * (64 chunks in flight), so a file's sender never waits for an acknowledgement it could have
 * had; a burst of messages stored in one write is acknowledged in that write, as before.
 */
export const E2E_ACK_EVERY = 16;

/** Peers tracked before the idle ones are dropped (one idle past E2E_ACK_DELAY_MS is as new). */
const SWEEP_AT = 256;

interface PeerAcks {
  /** When the last acknowledgement was sealed (the daemon's clock), or -Infinity. */
  at: number;
  /** Payloads stored since then. */
  waiting: number;
  timer?: ReturnType<typeof setTimeout>;
}

/** The acknowledgement schedule of every peer. */
export class AckPacer {
  readonly #peers = new Map<string, PeerAcks>();
  #stopped = false;

  /**
   * @param now the daemon's clock (ms)
   * @param later seals and sends a cumulative acknowledgement of `peer` in a write of its own
   */
  constructor(
    private readonly now: () => number,
    private readonly later: (peer: string) => void,
  ) {}

  /** Peers tracked now (bounded: idle ones are dropped once SWEEP_AT are). */
  get size(): number {
    return this.#peers.size;
  }

  /**
   * `n` more payloads of `peer` are being stored. True: acknowledge in this write (counted as
   * sealed now). False: an acknowledgement is arranged within E2E_ACK_DELAY_MS of the last one.
   */
  due(peer: string, n: number): boolean {
    let p = this.#peers.get(peer);
    if (!p) {
      if (this.#peers.size >= SWEEP_AT) this.#sweep();
      this.#peers.set(peer, p = { at: -Infinity, waiting: 0 });
    }
    p.waiting += n;
    const since = this.now() - p.at;
    if (this.#stopped || since >= E2E_ACK_DELAY_MS || p.waiting >= E2E_ACK_EVERY) {
      this.sealed(peer);
      return true;
    }
    p.timer ??= setTimeout(() => {
      p.timer = undefined;
      this.sealed(peer);
      this.later(peer);
    }, Math.max(0, E2E_ACK_DELAY_MS - since));
    return false;
  }

  /** An acknowledgement of everything stored for `peer` is being sealed now. */
  sealed(peer: string): void {
    const p = this.#peers.get(peer);
    if (!p) return void this.#peers.set(peer, { at: this.now(), waiting: 0 });
    if (p.timer !== undefined) clearTimeout(p.timer);
    p.timer = undefined;
    p.at = this.now();
    p.waiting = 0;
  }

  #sweep(): void {
    const now = this.now();
    for (const [peer, p] of this.#peers) {
      if (p.timer === undefined && now - p.at >= E2E_ACK_DELAY_MS) this.#peers.delete(peer);
    }
  }

  /** Drops every schedule (the identity changed: its peers' acknowledgements are moot). */
  clear(): void {
    for (const p of this.#peers.values()) if (p.timer !== undefined) clearTimeout(p.timer);
    this.#peers.clear();
  }

  /** Drops every schedule and arranges none again: every later acknowledgement goes at once. */
  stop(): void {
    this.#stopped = true;
    this.clear();
  }
}
