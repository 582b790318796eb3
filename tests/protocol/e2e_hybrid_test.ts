/**
 * The hybrid end-to-end handshake (Noise XXhfs with ML-KEM-768): agreement, separation from the
 * classical XX, binding of the KEM secret, failures that close the handshake, and sizes.
 *
 * @module
 */
import { assertEquals, assertOk, assertRejects, assertThrows } from "../_assert.ts";
import { toHex } from "../../protocol/bytes.ts";
import {
  type DhKeyPair,
  generateDhSync,
  randomSecret,
  signingKeyFromSeed,
} from "../../protocol/_crypto.ts";
import { type E2EKeys, e2ePrologue, signStatic } from "../../protocol/e2e_handshake.ts";
import {
  HYBRID_MSG1_OVERHEAD,
  HYBRID_MSG2_OVERHEAD,
  HYBRID_PROTOCOL_NAME,
  type HybridDeps,
  HybridInitiator,
  type HybridKem,
  HybridResponder,
  type HybridResult,
  ML_KEM_768,
} from "../../protocol/e2e_hybrid.ts";
import { mixKemSecret } from "../../protocol/_hybrid_state.ts";
import { HandshakeState, SymmetricState } from "../../protocol/noise.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { clientIdFromPublicKey } from "../../protocol/identity.ts";
import { kemPublic } from "../../protocol/_ratchet_keys.ts";

interface Party extends E2EKeys {
  identityKey: Uint8Array;
}

async function party(): Promise<Party> {
  const identity = await signingKeyFromSeed(randomSecret());
  const staticKey = generateDhSync();
  return {
    id: clientIdFromPublicKey(identity.publicKey),
    staticKey,
    vouch: await signStatic(identity, staticKey.publicKey),
    identityKey: identity.publicKey,
  };
}

const [alice, bob] = [await party(), await party()];
const code = (c: string) => (e: Error) => e instanceof ProtocolError && e.code === c;

/** A deterministic random source (a counter), so two runs can differ in one thing only. */
function counterRandom(start: number): (n: number) => Uint8Array {
  let c = start;
  return (n) => Uint8Array.from({ length: n }, () => (c++ * 131 + 7) & 0xff);
}

interface Run {
  m1: Uint8Array;
  m2: Uint8Array;
  m3: Uint8Array;
  ini: HybridResult;
  resp: HybridResult;
}

async function run(iniDeps: HybridDeps = {}, respDeps: HybridDeps = {}): Promise<Run> {
  const ini = new HybridInitiator(alice, bob.id, iniDeps);
  const resp = new HybridResponder(bob, alice.id, respDeps);
  const m1 = await ini.start();
  const m2 = await resp.accept(m1);
  const { message: m3, result } = await ini.finish(m2);
  return { m1, m2, m3, ini: result, resp: await resp.finish(m3) };
}

Deno.test("hybrid: both sides derive the same keys and handshake hash", async () => {
  const r = await run();
  assertEquals(toHex(r.ini.handshakeHash), toHex(r.resp.handshakeHash));
  assertEquals(toHex(r.ini.keys[0]), toHex(r.resp.keys[0]));
  assertEquals(toHex(r.ini.keys[1]), toHex(r.resp.keys[1]));
  assertOk(toHex(r.ini.keys[0]) !== toHex(r.ini.keys[1]));
  assertEquals(toHex(r.ini.peerIdentityKey), toHex(bob.identityKey));
  assertEquals(toHex(r.resp.peerIdentityKey), toHex(alice.identityKey));
  // Fresh randomness: a second handshake shares nothing.
  const r2 = await run();
  assertOk(toHex(r2.ini.keys[0]) !== toHex(r.ini.keys[0]));
});

Deno.test("hybrid: message sizes are the classical ones plus 1184 and 1104 bytes", async () => {
  const r = await run();
  assertEquals(HYBRID_MSG1_OVERHEAD, 1184);
  assertEquals(HYBRID_MSG2_OVERHEAD, 1088 + 16);
  assertEquals(r.m1.length, 32 + 1184); // e ‖ e1 ‖ empty payload (no key yet)
  assertEquals(r.m2.length, 32 + (1088 + 16) + (32 + 16) + (96 + 16));
  assertEquals(r.m3.length, (32 + 16) + (96 + 16)); // unchanged
  // Classical XX bodies (section 11.2, without the 10-byte envelope header): 32, 192, 160.
  assertEquals(r.m1.length - 32, HYBRID_MSG1_OVERHEAD);
  assertEquals(r.m2.length - 192, HYBRID_MSG2_OVERHEAD);
  assertEquals(r.m3.length, 160);
});

Deno.test("hybrid: the handshake hash and keys differ from classical XX on the same keys", async () => {
  const eA = generateDhSync();
  const eB = generateDhSync();
  const r = await run({ e: eA }, { e: eB });
  const prologue = e2ePrologue(alice.id, bob.id);
  const ini = new HandshakeState({
    pattern: "XX",
    initiator: true,
    prologue,
    s: alice.staticKey,
    e: eA,
  });
  const resp = new HandshakeState({
    pattern: "XX",
    initiator: false,
    prologue,
    s: bob.staticKey,
    e: eB,
  });
  await resp.readMessage(await ini.writeMessage(new Uint8Array()));
  await ini.readMessage(await resp.writeMessage(bob.vouch));
  await resp.readMessage(await ini.writeMessage(alice.vouch));
  assertOk(toHex(ini.handshakeHash) !== toHex(r.ini.handshakeHash));
  assertOk(toHex(ini.splitRaw()[0]) !== toHex(r.ini.keys[0]));
  assertOk(toHex(ini.splitRaw()[1]) !== toHex(r.ini.keys[1]));
  const initialH = (name: string) => toHex(new SymmetricState(name).h);
  assertOk(initialH(HYBRID_PROTOCOL_NAME) !== initialH("Noise_XX_25519_AESGCM_SHA256"));
  // A classical message 1 (32 bytes) is refused by the hybrid responder: too short.
  const hybrid = new HybridResponder(bob, alice.id);
  const classical = new HandshakeState({
    pattern: "XX",
    initiator: true,
    prologue,
    s: alice.staticKey,
  });
  await assertRejects(() => hybrid.accept(new Uint8Array(0)), code("auth_failed"));
  assertOk(hybrid.closed);
  const hybrid2 = new HybridResponder(bob, alice.id);
  await assertRejects(
    async () => hybrid2.accept(await classical.writeMessage(new Uint8Array())),
    code("auth_failed"),
  );
});

/** Expects a failure at one of the steps, and the failing side closed for good. */
async function expectFailure(tamper2: (m2: Uint8Array) => Uint8Array) {
  const ini = new HybridInitiator(alice, bob.id);
  const resp = new HybridResponder(bob, alice.id);
  const m2 = tamper2(await resp.accept(await ini.start()));
  await assertRejects(() => ini.finish(m2), code("auth_failed"));
  assertOk(ini.closed);
  await assertRejects(() => ini.finish(m2), code("internal"));
  await assertRejects(() => ini.start(), code("internal"));
}

Deno.test("hybrid: a flipped byte of e1 makes the handshake fail", async () => {
  // Every byte of message 1: e (0..32) and e1 (32..1216).
  for (let i = 0; i < 32 + 1184; i++) {
    // A fresh initiator per case, so the responder sees a modified e1 from a real initiator.
    const a = new HybridInitiator(alice, bob.id);
    const r = new HybridResponder(bob, alice.id);
    const bad = (await a.start()).slice();
    bad[i]! ^= 0x01;
    let m2: Uint8Array;
    try {
      m2 = await r.accept(bad);
    } catch (e) {
      assertOk(code("auth_failed")(e as Error));
      assertOk(r.closed);
      continue;
    }
    await assertRejects(() => a.finish(m2), code("auth_failed"), `position ${i}`);
    assertOk(a.closed);
    await assertRejects(() => a.finish(m2), code("internal"));
  }
});

Deno.test("hybrid: a flipped byte of ekem1 makes the handshake fail", async () => {
  // Every byte of ekem1 (ciphertext and tag), at 32..1136 of message 2.
  for (let i = 32; i < 32 + 1104; i++) {
    await expectFailure((m2) => {
      const bad = m2.slice();
      bad[i]! ^= 0x80;
      return bad;
    });
  }
});

Deno.test("hybrid: a responder that encapsulates to another key fails the handshake", async () => {
  const other = kemPublic(crypto.getRandomValues(new Uint8Array(64)));
  const wrongKem: HybridKem = {
    ...ML_KEM_768,
    encapsulate: (_pub, random) => ML_KEM_768.encapsulate(other, random),
  };
  const ini = new HybridInitiator(alice, bob.id);
  const resp = new HybridResponder(bob, alice.id, { kem: wrongKem });
  const m2 = await resp.accept(await ini.start());
  await assertRejects(() => ini.finish(m2), code("auth_failed"));
  assertOk(ini.closed);
  await assertRejects(() => ini.finish(m2), code("internal"));
});

Deno.test("hybrid: a responder whose KEM secret differs from the initiator's fails", async () => {
  // Same ciphertext, a secret off by one bit: only the KEM secret separates the two sides.
  const skewed: HybridKem = {
    ...ML_KEM_768,
    encapsulate: (pub, random) => {
      const { ct, ss } = ML_KEM_768.encapsulate(pub, random);
      const s2 = ss.slice();
      s2[31]! ^= 1;
      return { ct, ss: s2 };
    },
  };
  const ini = new HybridInitiator(alice, bob.id);
  const resp = new HybridResponder(bob, alice.id, { kem: skewed });
  const m2 = await resp.accept(await ini.start());
  await assertRejects(() => ini.finish(m2), code("auth_failed"));
  assertOk(ini.closed);
});

Deno.test("hybrid: every byte of the KEM secret changes the chaining key (no truncation)", () => {
  const base = new SymmetricState(HYBRID_PROTOCOL_NAME);
  base.mixHash(new Uint8Array([1, 2, 3]));
  const start = base.ck.slice();
  const secret = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 1);
  const mixed = (s: Uint8Array) => {
    const st = new SymmetricState(HYBRID_PROTOCOL_NAME);
    st.ck = start.slice();
    mixKemSecret(st, s);
    return toHex(st.ck);
  };
  const seen = new Set([mixed(secret)]);
  assertOk(!seen.has(toHex(start)));
  for (let i = 0; i < 32; i++) {
    for (const bit of [0x01, 0x80]) {
      const s = secret.slice();
      s[i]! ^= bit;
      const ck = mixed(s);
      assertOk(!seen.has(ck), `byte ${i} bit ${bit} did not change the chaining key`);
      seen.add(ck);
    }
  }
  // A secret of the wrong length is refused, never mixed in truncated or padded.
  for (const n of [0, 16, 31, 33, 64]) {
    const st = new SymmetricState(HYBRID_PROTOCOL_NAME);
    assertThrows(() => mixKemSecret(st, new Uint8Array(n)), code("auth_failed"));
  }
});

Deno.test("hybrid: every byte of the KEM secret reaches the transport keys", async () => {
  const eA: DhKeyPair = generateDhSync();
  const eB: DhKeyPair = generateDhSync();
  /** ML-KEM-768 with the shared secret's byte `i` flipped on both sides (i < 0: untouched). */
  const flipped = (i: number): HybridKem => {
    const f = (ss: Uint8Array) => {
      const s = ss.slice();
      if (i >= 0) s[i]! ^= 0x01;
      return s;
    };
    return {
      publicKey: ML_KEM_768.publicKey,
      encapsulate: (pub, r) => {
        const { ct, ss } = ML_KEM_768.encapsulate(pub, r);
        return { ct, ss: f(ss) };
      },
      decapsulate: (ct, seed) => f(ML_KEM_768.decapsulate(ct, seed)),
    };
  };
  const once = (i: number) =>
    run(
      { e: eA, random: counterRandom(1), kem: flipped(i) },
      { e: eB, random: counterRandom(1000), kem: flipped(i) },
    );
  const base = await once(-1);
  const again = await once(-1);
  assertEquals(toHex(again.ini.keys[0]), toHex(base.ini.keys[0])); // deterministic when injected
  const seen = new Set([toHex(base.ini.keys[0])]);
  for (let i = 0; i < 32; i++) {
    const r = await once(i);
    assertEquals(toHex(r.ini.keys[0]), toHex(r.resp.keys[0]));
    assertOk(!seen.has(toHex(r.ini.keys[0])), `KEM secret byte ${i} did not reach the keys`);
    assertOk(toHex(r.ini.keys[1]) !== toHex(base.ini.keys[1]));
    seen.add(toHex(r.ini.keys[0]));
  }
});

Deno.test("hybrid: an injected random source of the wrong length is refused", async () => {
  const ini = new HybridInitiator(alice, bob.id, { random: () => new Uint8Array(10) });
  await assertRejects(() => ini.start(), (e: Error) => e instanceof TypeError);
  assertOk(ini.closed);
});

Deno.test("hybrid: out-of-turn calls are refused", async () => {
  const ini = new HybridInitiator(alice, bob.id);
  const resp = new HybridResponder(bob, alice.id);
  await assertRejects(() => ini.finish(new Uint8Array(2000)), code("internal"));
  const m1 = await ini.start();
  await assertRejects(() => ini.start(), code("internal"));
  await assertRejects(() => resp.finish(m1), code("internal"));
  await resp.accept(m1);
  await assertRejects(() => resp.accept(m1), code("internal"));
  assertOk(!resp.closed);
});
