/**
 * The relay's limits, as named constants and one options type, and the rate limiters that
 * enforce them. Every limit is configurable; state is bounded everywhere.
 *
 * @module
 */
import { TokenBucket } from "../protocol/token_bucket.ts";

export { TokenBucket };

/** The relay's configurable limits. */
export interface RelayLimits {
  /** Largest envelope accepted in a SEND frame, in bytes. */
  maxEnvelope: number;
  /** Handshakes one IP may start per second (token bucket rate). */
  handshakesPerIpPerSecond: number;
  /** Burst of handshakes one IP may start at once. */
  handshakeBurstPerIp: number;
  /** Handshakes in progress at once, over all IPs (memory bound during a flood). */
  maxPendingHandshakes: number;
  /** Frames one session may send per second (token bucket rate). */
  framesPerSecond: number;
  /** Burst of frames one session may send at once. */
  frameBurst: number;
  /** Bytes (encrypted records) one session may send per second; the burst is twice this. */
  bytesPerSecond: number;
  /** Logged-in sessions at once. */
  maxSessions: number;
  /** Time to finish a handshake, in milliseconds. */
  handshakeTimeoutMs: number;
  /** Idle time before the relay pings and, without a pong, closes, in seconds. */
  idleTimeoutSeconds: number;
  /** Bytes queued towards one session before it counts as a slow reader and is closed. */
  maxQueueBytes: number;
  /** Presence watches per session. */
  maxWatches: number;
  /** Link records per direction before the link must be re-keyed. */
  rekeyAfter: number;
  /** IPs tracked by the handshake limiter (bounded map). */
  maxTrackedIps: number;
}

/** Defaults, chosen for a relay on a small server serving people and scripts. */
export const DEFAULT_LIMITS: Readonly<RelayLimits> = {
  maxEnvelope: 65536, // the protocol's cap; a chat message plus padding fits many times over
  handshakesPerIpPerSecond: 20, // a reconnecting daemon needs 1; a NAT of a few hundred users fits
  handshakeBurstPerIp: 40,
  maxPendingHandshakes: 512, // each costs a few KiB; 512 bounds a flood to ~2 MiB
  framesPerSecond: 5000, // far above a person, enough for scripts and bulk sends
  frameBurst: 10000,
  bytesPerSecond: 64 * 1024 * 1024, // bounds the decryption work one session can cause
  maxSessions: 10000,
  handshakeTimeoutMs: 10_000,
  idleTimeoutSeconds: 60, // Deno pings after this idle time and closes without a pong
  maxQueueBytes: 8 * 1024 * 1024, // ~128 full envelopes; beyond that a reader is too slow
  maxWatches: 1024,
  rekeyAfter: 2 ** 24,
  maxTrackedIps: 65536,
};

/**
 * Per-IP handshake limiter with a bounded map: when full, buckets that have refilled are dropped;
 * if none has, the new IP is refused (fails closed rather than growing).
 */
export class IpLimiter {
  readonly #buckets = new Map<string, TokenBucket>();

  /** @param limits the rate, burst and map bound */
  constructor(
    readonly limits: Pick<
      RelayLimits,
      "handshakesPerIpPerSecond" | "handshakeBurstPerIp" | "maxTrackedIps"
    >,
  ) {}

  /** True if `ip` may start a handshake now. */
  allow(ip: string, now: number): boolean {
    let b = this.#buckets.get(ip);
    if (!b) {
      if (this.#buckets.size >= this.limits.maxTrackedIps) this.#sweep(now);
      if (this.#buckets.size >= this.limits.maxTrackedIps) return false;
      b = new TokenBucket(
        this.limits.handshakesPerIpPerSecond,
        this.limits.handshakeBurstPerIp,
        now,
      );
      this.#buckets.set(ip, b);
    }
    return b.take(now);
  }

  /** Number of tracked IPs (for tests and metrics). */
  get size(): number {
    return this.#buckets.size;
  }

  #sweep(now: number): void {
    for (const [ip, b] of this.#buckets) if (b.isFull(now)) this.#buckets.delete(ip);
  }
}
