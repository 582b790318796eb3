import { assertEquals, assertOk as assert, assertRejects } from "../_assert.ts";
import { concat, fromHex, toHex, utf8 } from "../../protocol/bytes.ts";
import { sha256 } from "../../protocol/_crypto.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { hkdfSha256, initialKeys, kdfRk } from "../../protocol/_ratchet_kdf.ts";
import {
  initRatchet,
  ratchetDecrypt,
  type RatchetDeps,
  ratchetEncrypt,
  type RatchetState,
} from "../../protocol/ratchet.ts";

const rand = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const [idA, idB] = [rand(16), rand(16)];
const NOW = 1_700_000_000_000;
const isProto = (e: Error) => e instanceof ProtocolError;
const msg = (t: string) => utf8.encode(t);

/** A deterministic byte stream (SHA-256 in counter mode): whoever holds a copy predicts it. */
class Stream {
  constructor(readonly seed: Uint8Array, public pos = 0) {}
  take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let o = 0; o < n; o += 32) {
      const c = new Uint8Array(4);
      new DataView(c.buffer).setUint32(0, this.pos++);
      out.set(sha256(concat(this.seed, c)).subarray(0, Math.min(32, n - o)), o);
    }
    return out;
  }
  clone(): Stream {
    return new Stream(this.seed, this.pos);
  }
}

/** A party whose X25519 and ML-KEM randomness come from two streams. */
class Party {
  constructor(public state: RatchetState, public dh: Stream, public kem: Stream) {}
  get deps(): RatchetDeps {
    return {
      now: NOW,
      random: (n, use) => (use === "dh" ? this.dh : this.kem).take(n),
    };
  }
  async send(t: string): Promise<Uint8Array> {
    const r = await ratchetEncrypt(this.state, msg(t), this.deps);
    this.state = r.state;
    return r.message;
  }
  async recv(m: Uint8Array): Promise<Uint8Array | null> {
    try {
      const r = await ratchetDecrypt(this.state, m, this.deps);
      this.state = r.state;
      return r.plaintext;
    } catch {
      return null;
    }
  }
}

async function pair(kemPeriod: number): Promise<{ a: Party; b: Party }> {
  const h = rand(32), split = [rand(32), rand(32)] as const;
  const s = () => new Stream(rand(32));
  return {
    a: new Party(
      await initRatchet({ h, split, initiator: true, localId: idA, peerId: idB, kemPeriod }),
      s(),
      s(),
    ),
    b: new Party(
      await initRatchet({ h, split, initiator: false, localId: idB, peerId: idA, kemPeriod }),
      s(),
      s(),
    ),
  };
}

/**
 * A thief copies A's whole state at time t and then learns A's future X25519 randomness (as a
 * quantum adversary recovers DH secrets from public keys), A's ML-KEM randomness, both or
 * neither. The copy mirrors everything A does (same sends, same messages received).
 */
function thief(a: Party, knows: { dh: boolean; kem: boolean }): Party {
  return new Party(
    structuredClone(a.state),
    knows.dh ? a.dh.clone() : new Stream(rand(32)),
    knows.kem ? a.kem.clone() : new Stream(rand(32)),
  );
}

/** `rounds` round trips (A then B); the thief mirrors A. */
async function converse(a: Party, b: Party, t: Party | null, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const m1 = await a.send(`a${i}`);
    await t?.send(`a${i}`);
    assertEquals(await b.recv(m1), msg(`a${i}`));
    const m2 = await b.send(`b${i}`);
    assertEquals(await a.recv(m2), msg(`b${i}`));
    await t?.recv(m2);
  }
}

/** Whether the thief reads B's next message, and whether B takes one the thief forges. */
async function thiefWins(
  a: Party,
  b: Party,
  t: Party,
): Promise<{ reads: boolean; forges: boolean }> {
  const m = await b.send("secret");
  const reads = (await t.recv(m)) !== null;
  assertEquals(await a.recv(m), msg("secret"));
  const forged = await t.send("forged");
  const probe = new Party(structuredClone(b.state), b.dh, b.kem);
  const forges = (await probe.recv(forged)) !== null;
  return { reads, forges };
}

async function compromised(
  period: number,
  knows: { dh: boolean; kem: boolean },
  rounds: number,
  warm = 2,
) {
  const { a, b } = await pair(period);
  await converse(a, b, null, warm);
  const t = thief(a, knows);
  await converse(a, b, t, rounds);
  return await thiefWins(a, b, t);
}

Deno.test("ratchet PCS: the control thief, who knows all of A's randomness, keeps reading", async () => {
  assertEquals(await compromised(8, { dh: true, kem: true }, 12), { reads: true, forges: true });
});

Deno.test("ratchet PCS: a thief of A's state loses after one round trip (classical healing)", async () => {
  for (const period of [1, 8]) {
    assertEquals(await compromised(period, { dh: false, kem: false }, 1), {
      reads: false,
      forges: false,
    });
    // ML-KEM exposed, X25519 intact: the DH step heals on its own.
    assertEquals(await compromised(period, { dh: false, kem: true }, 1), {
      reads: false,
      forges: false,
    });
  }
});

Deno.test("ratchet PCS: X25519 broken, ML-KEM intact: healed once a KEM round has run", async () => {
  // A KEM in every step (period 1): one round trip heals.
  assertEquals(await compromised(1, { dh: true, kem: false }, 1), { reads: false, forges: false });
  // The sparse schedule (period 8): after step 3, the next round trip (steps 4, 5) has no KEM,
  // so a thief who breaks X25519 still reads; once steps 9 and 10 have run, it no longer does.
  assertEquals(await compromised(8, { dh: true, kem: false }, 1, 2), { reads: true, forges: true });
  assertEquals(await compromised(8, { dh: true, kem: false }, 5, 2), {
    reads: false,
    forges: false,
  });
});

Deno.test("ratchet FS: a snapshot of B after message n opens none of the messages before n", async () => {
  const { a, b } = await pair(1);
  const sent: Uint8Array[] = [];
  for (let i = 0; i < 12; i++) {
    sent.push(await a.send(`a${i}`));
    assertEquals(await b.recv(sent.at(-1)!), msg(`a${i}`));
    if (i % 3 === 2) assertEquals(await a.recv(await b.send("ack")), msg("ack"));
  }
  const snapshot = structuredClone(b.state);
  for (const m of sent) {
    await assertRejects(() => ratchetDecrypt(snapshot, m, { now: NOW }), isProto);
  }
});

Deno.test("ratchet KDF: HKDF-SHA-256 matches RFC 5869 test case 1", () => {
  const okm = hkdfSha256(
    fromHex("000102030405060708090a0b0c"),
    new Uint8Array(22).fill(0x0b),
    fromHex("f0f1f2f3f4f5f6f7f8f9"),
    42,
  );
  assertEquals(
    toHex(okm),
    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
  );
});

Deno.test("ratchet KDF: KDF_RK depends on every byte of the DH output and of the KEM secret", () => {
  const rk = rand(32), dh = rand(32), ss = rand(32);
  const seen = new Set<string>();
  const add = (r: { rk: Uint8Array; ck: Uint8Array; nhk: Uint8Array }) => {
    for (const k of [r.rk, r.ck, r.nhk]) {
      assert(!seen.has(toHex(k)), "an output repeated");
      seen.add(toHex(k));
    }
  };
  add(kdfRk(rk, dh, ss));
  add(kdfRk(rk, dh, null)); // a KEM step differs from a DH-only step
  for (let i = 0; i < 32; i++) {
    for (const which of ["dh", "ss", "rk"] as const) {
      const [d, s, r] = [dh.slice(), ss.slice(), rk.slice()];
      ({ dh: d, ss: s, rk: r })[which][i]! ^= 1 << (i % 8);
      add(kdfRk(r, d, s));
    }
  }
  assertEquals(seen.size, 3 * (2 + 96));
});

Deno.test("ratchet KDF: the initial keys depend on every byte of h, both Split() keys and both ids", () => {
  const h = rand(32), k1 = rand(32), k2 = rand(32);
  const base = toHex(initialKeys(h, [k1, k2], idA, idB).rk);
  const inputs = [h, k1, k2, idA.slice(), idB.slice()];
  for (let j = 0; j < inputs.length; j++) {
    for (let i = 0; i < inputs[j]!.length; i++) {
      const v = inputs.map((x) => x.slice());
      v[j]![i]! ^= 0x01;
      const rk = initialKeys(v[0]!, [v[1]!, v[2]!], v[3]!, v[4]!).rk;
      assert(toHex(rk) !== base, `input ${j} byte ${i} did not change RK0`);
    }
  }
});

Deno.test("ratchet KDF: wrong input lengths are refused, never truncated or padded", () => {
  for (
    const [d, s] of [[rand(31), rand(32)], [rand(33), null], [rand(32), rand(31)], [
      rand(32),
      rand(64),
    ]]
  ) {
    let threw = false;
    try {
      kdfRk(rand(32), d!, s ?? null);
    } catch {
      threw = true;
    }
    assert(threw, `lengths ${d!.length}/${s?.length}`);
  }
});
