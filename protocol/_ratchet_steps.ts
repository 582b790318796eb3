/**
 * The Double Ratchet's steps (protocol/README.md, section 13): the associated data, our half of a
 * DH step with the KEM schedule's part of it, the peer's half with the new chain up to the
 * message, and skipped-key derivation. Every function works on a state copy owned by ratchet.ts.
 *
 * @module
 */
import { concat, constantTimeEqual } from "./bytes.ts";
import { openSync } from "./_aead.ts";
import { authFailed, ProtocolError } from "./errors.ts";
import { MLKEM_RANDOM_LEN, MLKEM_SEED_LEN, RATCHET_MAX_SKIP } from "./constants.ts";
import { kdfCk, type KdfMeter, kdfRk, messageAead } from "./_ratchet_kdf.ts";
import { type Header, SHAPE_KEM_CT, SHAPE_KEM_PUB } from "./_ratchet_header.ts";
import {
  checkRandom,
  DH_SECRET_LEN,
  dhPair,
  dhShared,
  dhWith,
  kemDecapsulate,
  kemEncapsulate,
  kemPublic,
} from "./_ratchet_keys.ts";
import {
  addSkipped,
  answers,
  offers,
  type RatchetState,
  type SkippedKey,
} from "./_ratchet_state.ts";

/** What an operation needs from outside. */
export interface RatchetDeps {
  /** The current time in ms (ages skipped keys). */
  now: number;
  /** Random bytes; `use` lets tests give X25519 and ML-KEM separate sources. CSPRNG by default. */
  random?: (n: number, use: "dh" | "kem") => Uint8Array;
  /** Counts derivations (tests). */
  meter?: KdfMeter;
  /**
   * Asked once per message, after its header authenticated and before any skipped key is
   * derived, with how many it would derive (> 0); false refuses the message (`rate_limited`),
   * state unchanged. The daemon budgets this work per peer (daemon/budget.ts).
   */
  allowSkip?: (keys: number) => boolean;
}

/** Refuses a message whose skipped keys the caller's budget does not allow. */
export function checkSkipBudget(deps: RatchetDeps, keys: number): void {
  if (keys > 0 && deps.allowSkip && !deps.allowSkip(keys)) {
    throw new ProtocolError("rate_limited", `Deriving ${keys} skipped keys is over budget`);
  }
}

const csprng = (n: number) => crypto.getRandomValues(new Uint8Array(n));

export function headerAd(prefix: Uint8Array, s: RatchetState, sending: boolean): Uint8Array {
  const [from, to] = sending ? [s.localId, s.peerId] : [s.peerId, s.localId];
  return concat(prefix, s.h, from, to);
}

export function bodyAd(
  s: RatchetState,
  sending: boolean,
  prefix: Uint8Array,
  ...enc: Uint8Array[]
) {
  const [from, to] = sending ? [s.localId, s.peerId] : [s.peerId, s.localId];
  return concat(s.h, from, to, prefix, ...enc); // the encrypted header, whole or in its parts
}

/** Our half of a DH step (and the KEM schedule's part of it), on the copy `s`; synchronous. */
export function sendStep(s: RatchetState, deps: RatchetDeps): void {
  const random = deps.random ?? csprng;
  const step = s.step + 1;
  let ss: Uint8Array | null = null;
  let ct: Uint8Array | null = null;
  if (answers(step, s.kemPeriod)) {
    if (!s.peerKemPub) throw new ProtocolError("internal", "No ML-KEM offer to answer");
    ({ ct, ss } = kemEncapsulate(s.peerKemPub, checkRandom(random(MLKEM_RANDOM_LEN, "kem"), 32)));
    s.peerKemPub = null;
  }
  let pub: Uint8Array | null = null;
  if (offers(step, s.kemPeriod)) {
    s.kemSeed = checkRandom(random(MLKEM_SEED_LEN, "kem"), MLKEM_SEED_LEN);
    pub = kemPublic(s.kemSeed);
  }
  const secret = checkRandom(random(DH_SECRET_LEN, "dh"), DH_SECRET_LEN);
  const kp = dhPair(secret);
  const r = kdfRk(s.rk, dhWith(kp, s.dhr!), ss, deps.meter);
  s.dhs = secret;
  s.dhsPub = kp.publicKey;
  s.rk = r.rk;
  s.step = step;
  s.pn = s.ns;
  s.ns = 0;
  s.cks = r.ck;
  s.hks = s.nhks;
  s.nhks = r.nhk;
  s.sendKemPub = pub;
  s.sendKemCt = ct;
  s.pendingStep = false;
}

/** Derives keys n0..n−1 of a chain for the skipped store; the caller has checked the gap. */
export function skipKeys(ck: Uint8Array, from: number, to: number, deps: RatchetDeps) {
  const keys: SkippedKey[] = [];
  for (let i = from; i < to; i++) {
    const r = kdfCk(ck, deps.meter);
    keys.push({ n: i, mk: r.mk, at: deps.now });
    ck = r.ck;
  }
  return { ck, keys };
}

export function openBody(
  s: RatchetState,
  mk: Uint8Array,
  prefix: Uint8Array,
  enc: Uint8Array,
  body: Uint8Array,
) {
  const { key, iv } = messageAead(mk);
  try {
    return openSync(key, iv, body, bodyAd(s, false, prefix, enc));
  } catch {
    throw authFailed();
  }
}

export function tooFar(n: number): ProtocolError {
  return new ProtocolError("session_unknown", `Message ${n} is too far ahead`);
}

/** The receiving half of a DH step, then the new chain up to the message (on the copy `s`). */
export async function newChain(
  s: RatchetState,
  hdr: Header,
  shape: number,
  deps: RatchetDeps,
  open: (mk: Uint8Array) => Uint8Array,
): Promise<Uint8Array> {
  const step = s.step + 1;
  const want = (offers(step, s.kemPeriod) ? SHAPE_KEM_PUB : 0) |
    (answers(step, s.kemPeriod) ? SHAPE_KEM_CT : 0);
  if (shape !== want) throw authFailed();
  if (s.dhr && constantTimeEqual(hdr.dh, s.dhr)) throw authFailed();
  // Both gaps are checked before any key is derived.
  if (s.ckr && (hdr.pn < s.nr || hdr.pn - s.nr > RATCHET_MAX_SKIP)) {
    if (hdr.pn < s.nr) throw authFailed();
    throw tooFar(hdr.pn);
  }
  if (hdr.n > RATCHET_MAX_SKIP) throw tooFar(hdr.n);
  checkSkipBudget(deps, (s.ckr ? hdr.pn - s.nr : 0) + hdr.n);
  let ss: Uint8Array | null = null;
  if (hdr.kemCt) {
    if (!s.kemSeed) throw authFailed();
    ss = kemDecapsulate(hdr.kemCt, s.kemSeed);
  }
  if (s.ckr) {
    const tail = skipKeys(s.ckr, s.nr, hdr.pn, deps);
    addSkipped(s, s.hkr!, s.dhr!, tail.keys);
  }
  const r = kdfRk(s.rk, await dhShared(s.dhs!, hdr.dh), ss, deps.meter);
  s.rk = r.rk;
  s.step = step;
  s.dhr = hdr.dh;
  s.hkr = s.nhkr;
  s.nhkr = r.nhk;
  s.recvShape = shape;
  if (hdr.kemCt) s.kemSeed = null;
  s.peerKemPub = hdr.kemPub;
  s.pendingStep = true;
  const head = skipKeys(r.ck, 0, hdr.n, deps);
  const mk = kdfCk(head.ck, deps.meter);
  const plaintext = open(mk.mk);
  addSkipped(s, s.hkr, s.dhr, head.keys);
  s.ckr = mk.ck;
  s.nr = hdr.n + 1;
  return plaintext;
}
