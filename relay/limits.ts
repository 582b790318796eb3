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
  /** Handshakes in progress at once from one IP (IPv6: one /64). */
  maxPendingHandshakesPerIp: number;
  /** Frames one session may send per second (token bucket rate). */
  framesPerSecond: number;
  /** Burst of frames one session may send at once. */
  frameBurst: number;
  /** Bytes (encrypted records) one session may send per second; the burst is twice this. */
  bytesPerSecond: number;
  /** Logged-in sessions at once (lowered at start if the descriptor limit cannot hold them). */
  maxSessions: number;
  /** Logged-in sessions at once from one IP (IPv6: one /64). */
  maxSessionsPerIp: number;
  /** Open TCP connections from one IP (IPv6: one /64), whatever they do. */
  maxConnectionsPerIp: number;
  /** Time to finish a handshake, in milliseconds. */
  handshakeTimeoutMs: number;
  /** Time to send a complete HTTP request head, in milliseconds. */
  headTimeoutMs: number;
  /** Idle time before the relay pings and, without a pong, closes, in seconds. */
  idleTimeoutSeconds: number;
  /** Bytes queued towards one session; beyond, envelopes for it are refused (recipient_busy). */
  maxQueueBytes: number;
  /** Bytes of envelopes queued towards all sessions together; beyond, refused the same way. */
  maxTotalQueueBytes: number;
  /** Time a session's link may take no bytes while some are queued before it is dropped (ms). */
  slowReaderTimeoutMs: number;
  /** Presence watches per session. */
  maxWatches: number;
  /** Link records per direction before the link must be re-keyed. */
  rekeyAfter: number;
  /** Link record bytes per direction before the link must be re-keyed. */
  rekeyAfterBytes: number;
  /** Key lookups (`GET /v1/keys/{id}`) per second from one IP; the burst is twice this. */
  keyLookupsPerIpPerSecond: number;
  /** IPs tracked by each per-IP rate limiter (bounded map). */
  maxTrackedIps: number;
}

/** Defaults, chosen for a relay on a small server serving people and scripts. */
export const DEFAULT_LIMITS: Readonly<RelayLimits> = {
  maxEnvelope: 65536, // the protocol's cap; a chat message plus padding fits many times over
  handshakesPerIpPerSecond: 20, // a reconnecting daemon needs 1; a NAT of a few hundred users fits
  handshakeBurstPerIp: 40,
  maxPendingHandshakes: 512, // each holds a few KiB and at most 160 bytes of input: ~2 MiB
  // A handshake takes one round trip: 16 at once from one address is a busy NAT reconnecting,
  // and it takes 32 addresses to fill the global cap (then eviction keeps newcomers in).
  maxPendingHandshakesPerIp: 16,
  framesPerSecond: 5000, // far above a person, enough for scripts and bulk sends
  frameBurst: 10000,
  bytesPerSecond: 64 * 1024 * 1024, // bounds the decryption work one session can cause
  maxSessions: 10000,
  // 0.64 % of the sessions: a household or an office behind one address fits, and it takes 157
  // addresses to fill the relay. Raise it for a relay behind a large NAT or a proxy.
  maxSessionsPerIp: 64,
  maxConnectionsPerIp: 128, // sessions + handshakes + key lookups, with room to spare
  handshakeTimeoutMs: 10_000,
  headTimeoutMs: 10_000, // an upgrade request is a few hundred bytes
  idleTimeoutSeconds: 60, // the relay pings after this idle time and closes without a pong
  maxQueueBytes: 8 * 1024 * 1024, // ~128 full envelopes; beyond that a reader is refused more
  // What slow readers may make the relay hold in all (queue_budget.ts): without it, 10,000
  // sessions × 8 MiB. 32 MiB is ~30,000 chat messages in flight, or a second of a busy relay.
  maxTotalQueueBytes: 32 * 1024 * 1024,
  slowReaderTimeoutMs: 30_000, // a reader that takes nothing for 30 s has stopped reading
  maxWatches: 1024,
  rekeyAfter: 2 ** 24,
  // With records ≤ 2^24 and bytes ≤ 2^37 (2^33 AES blocks) per key, AES-GCM's bound on telling
  // the records from random, (blocks + records)² / 2^129, stays at 2^-63 (protocol README, 6).
  rekeyAfterBytes: 2 ** 37,
  keyLookupsPerIpPerSecond: 10, // a daemon looks up a key once per new contact
  maxTrackedIps: 65536,
};

/**
 * A per-IP rate limiter with a bounded map: when full, buckets that have refilled are dropped;
 * if none has, the new IP is refused (fails closed rather than growing).
 */
export class IpLimiter {
  readonly #buckets = new Map<string, TokenBucket>();

  /** @param rate tokens per second; @param burst saved-up tokens; @param maxTracked map bound */
  constructor(readonly rate: number, readonly burst: number, readonly maxTracked: number) {}

  /** True if `ip` may go ahead now (takes a token). */
  allow(ip: string, now: number): boolean {
    let b = this.#buckets.get(ip);
    if (!b) {
      if (this.#buckets.size >= this.maxTracked) this.#sweep(now);
      if (this.#buckets.size >= this.maxTracked) return false;
      b = new TokenBucket(this.rate, this.burst, now);
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
