/**
 * The Double Ratchet with header encryption and a sparse ML-KEM-768 step (protocol/README.md,
 * section 13), seeded from the hybrid handshake's result; session.ts wraps it for the daemon.
 *
 * Pure: no I/O, no clock, no randomness of its own. The caller passes `now` (ms) and a random
 * source; states are values (a call never changes the state it was given and returns a new one
 * only on success), so the caller persists the returned state atomically before acting on it.
 *
 * @example
 * ```ts
 * const a = await initRatchet({ h, split, initiator: true, localId: idA, peerId: idB });
 * const b = await initRatchet({ h, split, initiator: false, localId: idB, peerId: idA });
 * const sent = await ratchetEncrypt(a, padded, { now });
 * const got = await ratchetDecrypt(b, sent.message, { now }); // got.plaintext, got.state
 * ```
 * @module
 */
import { concat, constantTimeEqual } from "./bytes.ts";
import { sealSyncParts } from "./_aead.ts";
import { authFailed, ProtocolError } from "./errors.ts";
import {
  RATCHET_KEM_PERIOD,
  RATCHET_MAX_PLAINTEXT,
  RATCHET_MAX_SKIP,
  TAG_LEN,
} from "./constants.ts";
import { initialKeys, kdfCk, messageAead } from "./_ratchet_kdf.ts";
import {
  type Header,
  messagePrefix,
  openHeader,
  PREFIX_LEN,
  sealHeader,
  shapeOf,
  splitMessage,
} from "./_ratchet_header.ts";
import { dhPublic } from "./_ratchet_keys.ts";
import {
  addSkipped,
  cloneState,
  findSkipped,
  pruneSkipped,
  type RatchetState,
  skippedExpiry,
  takeSkipped,
} from "./_ratchet_state.ts";
import {
  bodyAd,
  checkSkipBudget,
  headerAd,
  newChain,
  openBody,
  type RatchetDeps,
  sendStep,
  skipKeys,
  tooFar,
} from "./_ratchet_steps.ts";
import { decodeState, encodeState } from "./_ratchet_codec.ts";

export type { KdfMeter } from "./_ratchet_kdf.ts";
export type { RatchetState } from "./_ratchet_state.ts";
export { skippedExpiry } from "./_ratchet_state.ts";

/**
 * `state` without its skipped keys that expired at `now` (a copy; `state` is left as it was),
 * or `state` itself when none did.
 */
export function expireSkipped(state: RatchetState, now: number): RatchetState {
  const at = skippedExpiry(state);
  if (at === null || at >= now) return state;
  const s = cloneState(state);
  pruneSkipped(s, now);
  return s;
}
export type { RatchetDeps } from "./_ratchet_steps.ts";

/** What a Noise XX handshake leaves behind, and who we are in it. */
export interface RatchetInit {
  /** The final handshake hash. */
  h: Uint8Array;
  /** Split()'s two keys, raw: [initiator → responder, responder → initiator]. */
  split: readonly [Uint8Array, Uint8Array];
  /** True on the side that sent HS1. */
  initiator: boolean;
  /** Our client_id. */
  localId: Uint8Array;
  /** The peer's client_id. */
  peerId: Uint8Array;
  /** The KEM schedule's period (both sides must agree); RATCHET_KEM_PERIOD by default. */
  kemPeriod?: number;
}

/**
 * Starts a ratchet from a finished Noise XX handshake (section 13.2). The initiator sends on
 * chain 0 at once; the responder's first send performs step 1 against A0, the initiator's initial
 * ratchet key that both derive, so either side may write first.
 */
export async function initRatchet(init: RatchetInit): Promise<RatchetState> {
  const kemPeriod = init.kemPeriod ?? RATCHET_KEM_PERIOD;
  if (!Number.isInteger(kemPeriod) || kemPeriod < 1 || kemPeriod > 255) {
    throw new TypeError(`KEM period ${kemPeriod} is not 1..255`);
  }
  const [iId, rId] = init.initiator ? [init.localId, init.peerId] : [init.peerId, init.localId];
  const k = initialKeys(init.h, init.split, iId, rId);
  const a0Pub = await dhPublic(k.a0);
  const common = {
    kemPeriod,
    h: init.h.slice(),
    localId: init.localId.slice(),
    peerId: init.peerId.slice(),
    rk: k.rk,
    step: 0,
    ns: 0,
    pn: 0,
    nr: 0,
    recvShape: 0,
    sendKemPub: null,
    sendKemCt: null,
    kemSeed: null,
    peerKemPub: null,
    skipped: [],
  };
  if (init.initiator) {
    return {
      ...common,
      initiator: true,
      dhs: k.a0,
      dhsPub: a0Pub,
      dhr: null,
      cks: k.ckI,
      hks: k.hkI,
      nhks: k.nhkI,
      ckr: null,
      hkr: null,
      nhkr: k.nhkR,
      pendingStep: false,
    };
  }
  return {
    ...common,
    initiator: false,
    dhs: null,
    dhsPub: null,
    dhr: a0Pub,
    cks: null,
    hks: null,
    nhks: k.nhkR,
    ckr: k.ckI,
    hkr: k.hkI,
    nhkr: k.nhkI,
    pendingStep: true,
  };
}

/**
 * Performs a pending DH step (the turn changed: our next send starts a new chain), so that the
 * following encryptions need no asynchronous work; returns `state` itself when none is pending.
 * The returned state must be stored before a message sealed under it leaves.
 */
export function ratchetPrepare(
  state: RatchetState,
  deps: RatchetDeps,
): Promise<RatchetState> {
  return Promise.resolve().then(() => ratchetPrepareSync(state, deps));
}

/** ratchetPrepare on the calling thread (X25519 through node:crypto, ML-KEM in JS). */
export function ratchetPrepareSync(state: RatchetState, deps: RatchetDeps): RatchetState {
  if (!state.pendingStep) return state;
  const s = cloneState(state);
  sendStep(s, deps);
  return s;
}

/**
 * Encrypts one (padded) plaintext. The returned state must be stored before the message
 * leaves, so that no key is ever used twice, even across a crash.
 */
export async function ratchetEncrypt(
  state: RatchetState,
  plaintext: Uint8Array,
  deps: RatchetDeps,
): Promise<{ state: RatchetState; message: Uint8Array }> {
  return ratchetEncryptSync(await ratchetPrepare(state, deps), plaintext, deps);
}

/**
 * `ratchetEncrypt` without the DH step: synchronous, for a caller that seals inside a database
 * transaction. Throws `internal` when a step is pending (call `ratchetPrepare` first).
 */
export function ratchetEncryptSync(
  state: RatchetState,
  plaintext: Uint8Array,
  deps: RatchetDeps,
): { state: RatchetState; message: Uint8Array } {
  if (plaintext.length > RATCHET_MAX_PLAINTEXT) {
    throw new ProtocolError("too_large", `Plaintext of ${plaintext.length} bytes is too large`);
  }
  if (state.pendingStep) throw new ProtocolError("internal", "Ratchet step pending; prepare first");
  const s = cloneState(state);
  pruneSkipped(s, deps.now);
  if (s.ns >= 2 ** 32 - 1) throw new ProtocolError("rekey", "Chain exhausted; re-handshake");
  const { mk, ck } = kdfCk(s.cks!, deps.meter);
  s.cks = ck;
  const header: Header = {
    dh: s.dhsPub!,
    pn: s.pn,
    n: s.ns++,
    kemPub: s.sendKemPub,
    kemCt: s.sendKemCt,
  };
  const prefix = messagePrefix(shapeOf(header));
  const enc = sealHeader(s.hks!, headerAd(prefix, s, true), header);
  const { key, iv } = messageAead(mk);
  const body = sealSyncParts(key, iv, plaintext, bodyAd(s, true, prefix, ...enc));
  // Joined once: the encrypted header and the body stay in the parts their ciphers made.
  return { state: s, message: concat(prefix, ...enc, ...body) };
}

/**
 * Decrypts one ratchet message (section 13.5). Returns the plaintext and the new state, or
 * throws, leaving `state` exactly as it was: `auth_failed` for anything that does not
 * authenticate; after an authentic header, `replayed` for a key already used or dropped and
 * `session_unknown` for a gap over RATCHET_MAX_SKIP (refused before any key is derived).
 */
export async function ratchetDecrypt(
  state: RatchetState,
  message: Uint8Array,
  deps: RatchetDeps,
): Promise<{ state: RatchetState; plaintext: Uint8Array }> {
  const w = splitMessage(message);
  if (!w || w.prefix.length !== PREFIX_LEN || w.body.length < TAG_LEN) throw authFailed();
  const s = cloneState(state);
  pruneSkipped(s, deps.now);
  const ad = headerAd(w.prefix, s, false);
  const open = (mk: Uint8Array) => openBody(s, mk, w.prefix, w.encHeader, w.body);
  // 1. The current receiving chain (its own skipped keys included).
  const cur = s.hkr ? openHeader(s.hkr, ad, w.shape, w.encHeader) : null;
  if (cur) {
    if (!constantTimeEqual(cur.dh, s.dhr!) || w.shape !== s.recvShape) throw authFailed();
    if (cur.n < s.nr) {
      const c = findSkipped(s, s.hkr!);
      const mk = c ? takeSkipped(s, c, cur.n) : null;
      if (!mk) throw new ProtocolError("replayed", `Message ${cur.n} was already received`);
      return { plaintext: open(mk), state: s };
    }
    if (cur.n - s.nr > RATCHET_MAX_SKIP) throw tooFar(cur.n);
    checkSkipBudget(deps, cur.n - s.nr);
    const sk = skipKeys(s.ckr!, s.nr, cur.n, deps);
    const r = kdfCk(sk.ck, deps.meter);
    const plaintext = open(r.mk);
    addSkipped(s, s.hkr!, s.dhr!, sk.keys);
    s.ckr = r.ck;
    s.nr = cur.n + 1;
    return { plaintext, state: s };
  }
  // 2. The peer's next chain: a DH step (never while our answer to its last one is pending).
  const next = s.pendingStep ? null : openHeader(s.nhkr, ad, w.shape, w.encHeader);
  if (next) return { plaintext: await newChain(s, next, w.shape, deps, open), state: s };
  // 3. Older chains with skipped keys (at most RATCHET_MAX_SKIPPED_CHAINS trials).
  for (const c of s.skipped) {
    if (s.hkr && constantTimeEqual(c.hk, s.hkr)) continue;
    const old = openHeader(c.hk, ad, w.shape, w.encHeader);
    if (!old) continue;
    if (!constantTimeEqual(old.dh, c.dh)) throw authFailed();
    const mk = takeSkipped(s, c, old.n);
    if (!mk) throw new ProtocolError("replayed", `Message ${old.n} was already received`);
    return { plaintext: open(mk), state: s };
  }
  throw authFailed();
}

/** The state as bytes (version byte first), for atomic persistence. */
export function serializeRatchet(state: RatchetState): Uint8Array {
  return encodeState(state);
}

/** Parses a stored state strictly; `bad_frame` with a specific message on any defect. */
export function parseRatchet(bytes: Uint8Array): RatchetState {
  return decodeState(bytes);
}
