import { assertEquals, assertOk as assert, assertRejects } from "../_assert.ts";
import { concat, utf8 } from "../../protocol/bytes.ts";
import {
  RATCHET_MAX_SKIP,
  RATCHET_MAX_SKIPPED_CHAINS,
  RATCHET_MAX_SKIPPED_KEYS,
  RATCHET_MAX_SKIPPED_PER_CHAIN,
  RATCHET_SKIPPED_MAX_AGE_MS,
} from "../../protocol/constants.ts";
import { generateDh } from "../../protocol/_crypto.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { HandshakeState } from "../../protocol/noise.ts";
import {
  initRatchet,
  type KdfMeter,
  ratchetDecrypt,
  ratchetEncrypt,
  type RatchetState,
  serializeRatchet,
} from "../../protocol/ratchet.ts";

const rand = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const [idA, idB, idC] = [rand(16), rand(16), rand(16)];
const NOW = 1_700_000_000_000;
const deps = { now: NOW };
const isProto = (e: Error) => e instanceof ProtocolError;
const code = (c: string) => (e: Error) => e instanceof ProtocolError && e.code === c;
const msg = (t: string) => utf8.encode(t);
const same = (x: RatchetState, y: RatchetState) =>
  assertEquals(serializeRatchet(x), serializeRatchet(y));

/** A real Noise XX handshake between A (initiator) and B; both ratchets from its result. */
async function noisePair(kemPeriod?: number) {
  const prologue = concat(idA, idB);
  const i = new HandshakeState({ pattern: "XX", initiator: true, prologue, s: await generateDh() });
  const r = new HandshakeState({
    pattern: "XX",
    initiator: false,
    prologue,
    s: await generateDh(),
  });
  await r.readMessage(await i.writeMessage(new Uint8Array()));
  await i.readMessage(await r.writeMessage(new Uint8Array()));
  await r.readMessage(await i.writeMessage(new Uint8Array()));
  assertEquals(i.handshakeHash, r.handshakeHash);
  const h = i.handshakeHash;
  return {
    a: await initRatchet({
      h,
      split: i.splitRaw(),
      initiator: true,
      localId: idA,
      peerId: idB,
      kemPeriod,
    }),
    b: await initRatchet({
      h,
      split: r.splitRaw(),
      initiator: false,
      localId: idB,
      peerId: idA,
      kemPeriod,
    }),
  };
}

/** Sends `text` from `from` and opens it at `to`; returns both new states. */
async function hop(from: RatchetState, to: RatchetState, text: string) {
  const sent = await ratchetEncrypt(from, msg(text), deps);
  const got = await ratchetDecrypt(to, sent.message, deps);
  assertEquals(got.plaintext, msg(text));
  return { from: sent.state, to: got.state, wire: sent.message };
}

Deno.test("ratchet: round trips both ways over many turns and bursts, from a real Noise XX", async () => {
  for (const period of [1, 2, 8]) {
    let { a, b } = await noisePair(period);
    for (let turn = 0; turn < 40; turn++) {
      const burst = 1 + (turn % 3);
      for (let k = 0; k < burst; k++) {
        if (turn % 2 === 0) ({ from: a, to: b } = await hop(a, b, `a${turn}.${k}`));
        else ({ from: b, to: a } = await hop(b, a, `b${turn}.${k}`));
      }
    }
    assert(a.step > 30 && a.step === b.step, `steps ${a.step} ${b.step}`);
  }
});

Deno.test("ratchet: the responder may write first", async () => {
  let { a, b } = await noisePair();
  ({ from: b, to: a } = await hop(b, a, "responder first"));
  ({ from: a, to: b } = await hop(a, b, "reply"));
  ({ from: b, to: a } = await hop(b, a, "again"));
  assertEquals(a.step, 3);
});

Deno.test("ratchet: both write at once, then the turns sort themselves out", async () => {
  let { a, b } = await noisePair(1);
  const fromA = await ratchetEncrypt(a, msg("x"), deps);
  const fromB = await ratchetEncrypt(b, msg("y"), deps);
  a = (await ratchetDecrypt(fromA.state, fromB.message, deps)).state;
  b = (await ratchetDecrypt(fromB.state, fromA.message, deps)).state;
  for (let i = 0; i < 6; i++) {
    ({ from: a, to: b } = await hop(a, b, `a${i}`));
    ({ from: b, to: a } = await hop(b, a, `b${i}`));
  }
});

Deno.test("ratchet: out of order within a chain and across chains decrypts", async () => {
  let { a, b } = await noisePair(1);
  const sent: Uint8Array[] = [];
  for (let i = 0; i < 5; i++) {
    const s = await ratchetEncrypt(a, msg(`m${i}`), deps);
    a = s.state;
    sent.push(s.message);
  }
  // B hears m4 first (skipping 0..3), replies, A steps, and A's new chain arrives before m0..m3.
  let got = await ratchetDecrypt(b, sent[4]!, deps);
  b = got.state;
  ({ from: b, to: a } = await hop(b, a, "reply"));
  const later = await ratchetEncrypt(a, msg("new chain"), deps);
  got = await ratchetDecrypt(b, later.message, deps);
  b = got.state;
  for (const i of [2, 0, 3, 1]) {
    got = await ratchetDecrypt(b, sent[i]!, deps);
    assertEquals(got.plaintext, msg(`m${i}`));
    b = got.state;
  }
  assertEquals(b.skipped.length, 0);
});

Deno.test("ratchet: a gap over RATCHET_MAX_SKIP is refused before any key is derived", async () => {
  let { a, b } = await noisePair();
  const pre = await ratchetEncrypt(a, msg("first"), deps); // sent, then lost
  a = pre.state;
  a = { ...a, ns: a.ns + RATCHET_MAX_SKIP }; // as a sender far ahead would be
  const far = await ratchetEncrypt(a, msg("far"), deps);
  const meter: KdfMeter = { rk: 0, ck: 0 };
  await assertRejects(
    () => ratchetDecrypt(b, far.message, { now: NOW, meter }),
    code("session_unknown"),
  );
  assertEquals(meter, { rk: 0, ck: 0 });
  // Exactly at the limit it opens, deriving RATCHET_MAX_SKIP + 1 keys.
  const { state: a2 } = await ratchetEncrypt(pre.state, msg("x"), deps);
  let s = a2;
  for (let i = 2; i < RATCHET_MAX_SKIP; i++) s = (await ratchetEncrypt(s, msg("x"), deps)).state;
  const edge = await ratchetEncrypt(s, msg("edge"), deps);
  const m2: KdfMeter = { rk: 0, ck: 0 };
  const got = await ratchetDecrypt(b, edge.message, { now: NOW, meter: m2 });
  assertEquals(got.plaintext, msg("edge"));
  assertEquals(m2.ck, RATCHET_MAX_SKIP + 1);
});

Deno.test("ratchet: a new chain whose pn or n is too far is refused before DH, KEM or chain work", async () => {
  let { a, b } = await noisePair();
  ({ from: a, to: b } = await hop(a, b, "hi"));
  const sent = await ratchetEncrypt(b, msg("step"), deps);
  const farState = { ...sent.state, ns: RATCHET_MAX_SKIP + 1 };
  // Rebuild B's step message with n far ahead: same new chain, later message.
  const far = await ratchetEncrypt(farState, msg("far"), deps);
  const meter: KdfMeter = { rk: 0, ck: 0 };
  await assertRejects(
    () => ratchetDecrypt(a, far.message, { now: NOW, meter }),
    code("session_unknown"),
  );
  assertEquals(meter, { rk: 0, ck: 0 });
});

Deno.test("ratchet: the skipped-key store stays under its caps, per chain, in chains and in total", async () => {
  let { a, b } = await noisePair(1);
  for (let turn = 0; turn < 8; turn++) {
    // A sends a chain of 700 and B hears only the last one; then B answers.
    let last: Uint8Array | undefined;
    for (let i = 0; i < 700; i++) {
      const s = await ratchetEncrypt(a, msg("x"), deps);
      a = s.state;
      last = s.message;
    }
    b = (await ratchetDecrypt(b, last!, deps)).state;
    ({ from: b, to: a } = await hop(b, a, "ack"));
    let total = 0;
    for (const c of b.skipped) {
      assert(c.keys.length <= RATCHET_MAX_SKIPPED_PER_CHAIN);
      total += c.keys.length;
    }
    assert(total <= RATCHET_MAX_SKIPPED_KEYS, `total ${total}`);
    assert(b.skipped.length <= RATCHET_MAX_SKIPPED_CHAINS);
  }
});

Deno.test("ratchet: skipped keys expire after RATCHET_SKIPPED_MAX_AGE_MS", async () => {
  let { a, b } = await noisePair();
  const m0 = await ratchetEncrypt(a, msg("late"), deps);
  const m1 = await ratchetEncrypt(m0.state, msg("on time"), deps);
  b = (await ratchetDecrypt(b, m1.message, deps)).state;
  assertEquals(b.skipped.length, 1);
  const fresh = await ratchetDecrypt(b, m0.message, { now: NOW + RATCHET_SKIPPED_MAX_AGE_MS });
  assertEquals(fresh.plaintext, msg("late"));
  await assertRejects(
    () => ratchetDecrypt(b, m0.message, { now: NOW + RATCHET_SKIPPED_MAX_AGE_MS + 1 }),
    isProto,
  );
});

Deno.test("ratchet: a flood of forged headers changes nothing and stores nothing", async () => {
  let { a, b } = await noisePair();
  ({ from: a, to: b } = await hop(a, b, "hi"));
  const before = serializeRatchet(b);
  const genuine = await ratchetEncrypt(a, msg("genuine"), deps);
  const meter: KdfMeter = { rk: 0, ck: 0 };
  for (let i = 0; i < 2000; i++) {
    const f = genuine.message.slice();
    if (i % 3 === 0) f.set(rand(f.length - 2), 2); // all random after version and shape
    else f[2 + (i % 60)]! ^= 1 + (i % 255); // one byte of the encrypted header flipped
    await assertRejects(() => ratchetDecrypt(b, f, { now: NOW, meter }), code("auth_failed"));
  }
  assertEquals(meter, { rk: 0, ck: 0 });
  assertEquals(serializeRatchet(b), before);
  assertEquals((await ratchetDecrypt(b, genuine.message, deps)).plaintext, msg("genuine"));
});

Deno.test("ratchet: replay of any message is refused", async () => {
  let { a, b } = await noisePair(1);
  const wires: Uint8Array[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await hop(a, b, `a${i}`);
    a = r.from;
    b = r.to;
    wires.push(r.wire);
    if (i % 2) ({ from: b, to: a } = await hop(b, a, "ack"));
  }
  for (const w of wires) await assertRejects(() => ratchetDecrypt(b, w, deps), isProto);
  // Replay into the same chain: replayed, after the header authenticated.
  const one = await ratchetEncrypt(a, msg("once"), deps);
  b = (await ratchetDecrypt(b, one.message, deps)).state;
  await assertRejects(() => ratchetDecrypt(b, one.message, deps), code("replayed"));
});

Deno.test("ratchet: a tampered body is refused, the state unchanged, the next genuine one opens", async () => {
  let { a, b } = await noisePair();
  ({ from: b, to: a } = await hop(b, a, "hi")); // A's next send is a DH step
  const real = await ratchetEncrypt(a, msg("real"), deps);
  const before = serializeRatchet(b);
  for (const at of [real.message.length - 1, real.message.length - 30]) {
    const t = real.message.slice();
    t[at]! ^= 0x80;
    await assertRejects(() => ratchetDecrypt(b, t, deps), code("auth_failed"));
    assertEquals(serializeRatchet(b), before);
  }
  assertEquals((await ratchetDecrypt(b, real.message, deps)).plaintext, msg("real"));
});

Deno.test("ratchet: a message from another session, another pair or reflected is refused", async () => {
  let { a, b } = await noisePair();
  const other = await noisePair();
  ({ from: a, to: b } = await hop(a, b, "hi"));
  const m = await ratchetEncrypt(a, msg("for b"), deps);
  await assertRejects(() => ratchetDecrypt(other.b, m.message, deps), code("auth_failed"));
  await assertRejects(() => ratchetDecrypt(m.state, m.message, deps), code("auth_failed"));
  await assertRejects(() => ratchetDecrypt(a, m.message, deps), code("auth_failed"));
  // The same keys but other ids (a relay naming C as the sender): the AD differs.
  const asC = { ...b, peerId: idC };
  await assertRejects(() => ratchetDecrypt(asC, m.message, deps), code("auth_failed"));
  same(b, b);
  assertEquals((await ratchetDecrypt(b, m.message, deps)).plaintext, msg("for b"));
});

Deno.test("ratchet: malformed messages fail uniformly", async () => {
  const { b } = await noisePair();
  for (
    const bad of [
      new Uint8Array(),
      Uint8Array.of(2),
      Uint8Array.of(1, 0, ...rand(200)),
      Uint8Array.of(2, 4, ...rand(200)),
      Uint8Array.of(2, 0, ...rand(80)),
    ]
  ) {
    await assertRejects(() => ratchetDecrypt(b, bad, deps), code("auth_failed"));
  }
  await assertRejects(
    async () => await ratchetEncrypt(b, new Uint8Array(70_000), deps),
    isProto,
    "too large",
  );
});

Deno.test("ratchet: two messages of a session share no 4-byte string past version and shape", async () => {
  let { a, b } = await noisePair(1);
  const wires: Uint8Array[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await hop(a, b, "same text every time");
    a = r.from;
    b = r.to;
    wires.push(r.wire);
    if (i >= 2) ({ from: b, to: a } = await hop(b, a, "ack")); // later ones on new chains
  }
  const grams = (w: Uint8Array) => {
    const s = new Set<number>();
    for (let i = 2; i + 4 <= w.length; i++) {
      s.add(((w[i]! << 24) | (w[i + 1]! << 16) | (w[i + 2]! << 8) | w[i + 3]!) >>> 0);
    }
    return s;
  };
  for (let x = 0; x < wires.length; x++) {
    for (let y = x + 1; y < wires.length; y++) {
      const gx = grams(wires[x]!);
      let shared = 0;
      for (const g of grams(wires[y]!)) if (gx.has(g)) shared++;
      // Chance collisions of random 4-byte strings are ~n²/2^32; at these lengths ≤ 1.
      assert(shared <= 1, `messages ${x} and ${y} share ${shared} 4-byte strings`);
    }
  }
  // The first two bytes are the version and the shape; the first chain's messages share them.
  assertEquals(wires[0]!.subarray(0, 2), wires[1]!.subarray(0, 2));
});

Deno.test("ratchet: encrypt and decrypt never change the state they are given", async () => {
  const { a, b } = await noisePair(1);
  const sa = serializeRatchet(a), sb = serializeRatchet(b);
  const m = await ratchetEncrypt(a, msg("x"), deps);
  await ratchetDecrypt(b, m.message, deps);
  assertEquals(serializeRatchet(a), sa);
  assertEquals(serializeRatchet(b), sb);
  await assertRejects(() => ratchetDecrypt(b, rand(400), deps), code("auth_failed"));
  assertEquals(serializeRatchet(b), sb);
});
