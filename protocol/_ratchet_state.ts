/**
 * The Double Ratchet's state and its store of skipped message keys, with every part bounded
 * (protocol/README.md, section 13.5).
 *
 * States are values: ratchet.ts never changes a state it was given, it works on a copy
 * (`cloneState`) and hands the copy back only when the operation succeeded.
 *
 * @module
 */
import { constantTimeEqual } from "./bytes.ts";
import {
  RATCHET_MAX_SKIPPED_CHAINS,
  RATCHET_MAX_SKIPPED_KEYS,
  RATCHET_MAX_SKIPPED_PER_CHAIN,
  RATCHET_SKIPPED_MAX_AGE_MS,
} from "./constants.ts";

/** One skipped message key. */
export interface SkippedKey {
  /** The message number in its chain. */
  n: number;
  /** The message key. */
  mk: Uint8Array;
  /** When it was derived, in ms of the injected clock. */
  at: number;
}

/** The skipped keys of one receiving chain, found by its header key. */
export interface SkippedChain {
  /** The chain's header key. */
  hk: Uint8Array;
  /** The sender's ratchet public key of that chain. */
  dh: Uint8Array;
  /** Keys by ascending `n`. */
  keys: SkippedKey[];
}

/** A Double Ratchet state (one side of one session). */
export interface RatchetState {
  /** True for the Noise XX initiator. */
  initiator: boolean;
  /** The KEM schedule's period, agreed by both sides (RATCHET_KEM_PERIOD). */
  kemPeriod: number;
  /** The Noise handshake hash (32), bound into every AD. */
  h: Uint8Array;
  /** Our client_id (16). */
  localId: Uint8Array;
  /** The peer's client_id (16). */
  peerId: Uint8Array;
  /** Root key. */
  rk: Uint8Array;
  /** Root-chain steps so far: the index of the newest chain, sending or receiving. */
  step: number;
  /** Our ratchet private key (X25519), null for a responder before its first send. */
  dhs: Uint8Array | null;
  /** Its public key. */
  dhsPub: Uint8Array | null;
  /** The peer's current ratchet public key, null for an initiator before it hears one. */
  dhr: Uint8Array | null;
  /** Sending chain key and header key (both null until the responder's first send). */
  cks: Uint8Array | null;
  hks: Uint8Array | null;
  /** Next sending header key. */
  nhks: Uint8Array;
  /** Messages sent in the current sending chain, and in the one before. */
  ns: number;
  pn: number;
  /** The KEM fields every header of the current sending chain carries. */
  sendKemPub: Uint8Array | null;
  sendKemCt: Uint8Array | null;
  /** Receiving chain key and header key (null until a chain of the peer is known). */
  ckr: Uint8Array | null;
  hkr: Uint8Array | null;
  /** Next receiving header key. */
  nhkr: Uint8Array;
  /** The next message number expected in the receiving chain. */
  nr: number;
  /** The shape byte of the receiving chain's headers. */
  recvShape: number;
  /** The peer's newest ratchet key is unanswered: our next send performs a DH step. */
  pendingStep: boolean;
  /** Seed of the ML-KEM key we offered, kept until the peer's answer arrives. */
  kemSeed: Uint8Array | null;
  /** The ML-KEM key the peer offered, kept until we answer it. */
  peerKemPub: Uint8Array | null;
  /** Skipped keys, oldest chain first. */
  skipped: SkippedChain[];
}

/**
 * A copy that operations may change freely: the state object, the list of skipped chains, each
 * chain and its list of keys are new; the byte arrays and key records are shared. Why not a deep
 * copy: no code of the ratchet changes a byte array or a key record in place (fields are replaced,
 * lists rebuilt or spliced, and only the copied ones), and structuredClone of every key and of
 * up to 1,000 skipped keys cost ~13 µs per message here; sharing also lets a key's derived values
 * be cached by identity (_ratchet_header.ts).
 */
export function cloneState(s: RatchetState): RatchetState {
  return { ...s, skipped: s.skipped.map((c) => ({ ...c, keys: c.keys.slice() })) };
}

/** Drops skipped keys older than RATCHET_SKIPPED_MAX_AGE_MS, and chains left empty. */
export function pruneSkipped(s: RatchetState, now: number): void {
  for (const c of s.skipped) {
    c.keys = c.keys.filter((k) => now - k.at <= RATCHET_SKIPPED_MAX_AGE_MS);
  }
  s.skipped = s.skipped.filter((c) => c.keys.length > 0);
}

/**
 * When the oldest skipped key of `s` expires (RATCHET_SKIPPED_MAX_AGE_MS after it was derived),
 * or null when it holds none: the daemon drops expired keys of sessions that stay idle (a key is
 * otherwise only dropped by the session's next message).
 */
export function skippedExpiry(s: RatchetState): number | null {
  let oldest = Infinity;
  for (const c of s.skipped) for (const k of c.keys) oldest = Math.min(oldest, k.at);
  return oldest === Infinity ? null : oldest + RATCHET_SKIPPED_MAX_AGE_MS;
}

/** Total skipped keys held. */
export function skippedCount(s: RatchetState): number {
  let n = 0;
  for (const c of s.skipped) n += c.keys.length;
  return n;
}

/** The skipped chain with header key `hk`, if any. */
export function findSkipped(s: RatchetState, hk: Uint8Array): SkippedChain | undefined {
  return s.skipped.find((c) => constantTimeEqual(c.hk, hk));
}

/** Removes and returns the skipped key `n` of chain `c`, or null. */
export function takeSkipped(s: RatchetState, c: SkippedChain, n: number): Uint8Array | null {
  const i = c.keys.findIndex((k) => k.n === n);
  if (i < 0) return null;
  const [k] = c.keys.splice(i, 1);
  if (c.keys.length === 0) s.skipped = s.skipped.filter((x) => x !== c);
  return k!.mk;
}

/**
 * Adds skipped keys of the chain (hk, dh), then enforces the caps: per chain (its oldest keys go),
 * chains (the oldest chain goes whole), in total (oldest keys of the oldest chains go first).
 */
export function addSkipped(
  s: RatchetState,
  hk: Uint8Array,
  dh: Uint8Array,
  keys: SkippedKey[],
): void {
  if (keys.length === 0) return;
  let c = findSkipped(s, hk);
  if (!c) {
    c = { hk, dh, keys: [] };
    s.skipped.push(c);
  } else {
    // Keep the chain newest: the oldest-first order decides what is dropped.
    s.skipped = s.skipped.filter((x) => x !== c).concat([c]);
  }
  c.keys.push(...keys);
  if (c.keys.length > RATCHET_MAX_SKIPPED_PER_CHAIN) {
    c.keys = c.keys.slice(-RATCHET_MAX_SKIPPED_PER_CHAIN);
  }
  while (s.skipped.length > RATCHET_MAX_SKIPPED_CHAINS) s.skipped.shift();
  let excess = skippedCount(s) - RATCHET_MAX_SKIPPED_KEYS;
  while (excess > 0) {
    const oldest = s.skipped[0]!;
    const drop = Math.min(excess, oldest.keys.length);
    oldest.keys = oldest.keys.slice(drop);
    excess -= drop;
    if (oldest.keys.length === 0) s.skipped.shift();
  }
}

/**
 * The KEM schedule (section 13.4): step `s` offers a new ML-KEM key when (s − 1) is a multiple
 * of the period; the step after an offer answers it.
 */
export function offers(step: number, period: number): boolean {
  return step >= 1 && (step - 1) % period === 0;
}

/** Whether step `s` answers an ML-KEM offer (the previous step made one). */
export function answers(step: number, period: number): boolean {
  return step >= 2 && offers(step - 1, period);
}
