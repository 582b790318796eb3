/**
 * E2ESession: the daemon's handle on a Double Ratchet session (the ratchet itself is tested in
 * ratchet*_test.ts). What the wrapper adds: it keeps the state and replaces it only on success,
 * seals synchronously once a pending DH step is prepared, and round-trips through its stored form.
 */
import { assertEquals, assertOk, assertRejects, assertThrows } from "../_assert.ts";
import { toHex } from "../../protocol/bytes.ts";
import { PAD_BUCKETS, RATCHET_MAX_PLAINTEXT } from "../../protocol/constants.ts";
import { isRatchetMessage } from "../../protocol/envelope.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { E2ESession } from "../../protocol/session.ts";

const rand = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const [idA, idB] = [rand(16), rand(16)];
const deps = { now: 1_700_000_000_000 };
const code = (c: string) => (e: Error) => e instanceof ProtocolError && e.code === c;
const text = (i: number) => Uint8Array.of(i >> 8, i & 0xff, 0x5a);

/** Alice (initiator) and Bob (responder) as a finished handshake would leave them. */
async function pair(): Promise<{ a: E2ESession; b: E2ESession }> {
  const h = rand(32), split = [rand(32), rand(32)] as const;
  return {
    a: await E2ESession.fromHandshake({ h, split, initiator: true, localId: idA, peerId: idB }),
    b: await E2ESession.fromHandshake({ h, split, initiator: false, localId: idB, peerId: idA }),
  };
}

Deno.test("session: messages both ways, turn after turn; a MSG is a version-2 ratchet message", async () => {
  const { a, b } = await pair();
  assertEquals(toHex(a.sid), toHex(b.sid), "both name the session alike (locally)");
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 3; i++) {
      const env = await a.seal(text(i), deps);
      assertOk(isRatchetMessage(env));
      assertEquals(await b.open(env, deps), text(i));
    }
    const back = await b.seal(text(100 + round), deps);
    assertEquals(await a.open(back, deps), text(100 + round));
  }
  assertOk(a.step > 2 && b.step > 2, `DH steps as the turn changed (${a.step}, ${b.step})`);
});

Deno.test("session: sealSync needs a prepared step; prepare makes it synchronous", async () => {
  const { a, b } = await pair();
  assertEquals(a.needsStep, false, "the initiator sends on chain 0 at once");
  assertEquals(await b.open(a.sealSync(text(1), deps), deps), text(1));
  assertEquals(b.needsStep, true, "the responder's first send is a step");
  assertThrows(() => b.sealSync(text(2), deps), code("internal"));
  await b.prepare(deps);
  assertEquals(b.needsStep, false);
  assertEquals(await a.open(b.sealSync(text(2), deps), deps), text(2));
});

Deno.test("session: prepareSync takes the same step as prepare (same randomness, same state), KEM rounds included", async () => {
  const { a, b } = await pair();
  // The same bytes for both: a counter-based source, one per copy of the session.
  const source = () => {
    let n = 0;
    return (len: number) => {
      n++;
      return Uint8Array.from({ length: len }, (_, i) => (n * 31 + i * 7 + 1) & 0xff);
    };
  };
  const twin = E2ESession.parse(b.serialize());
  const [r1, r2] = [source(), source()];
  for (let turn = 0; turn < 20; turn++) { // past RATCHET_KEM_PERIOD: offers and answers too
    const env = await a.seal(text(turn), deps);
    assertEquals(await b.open(env, deps), text(turn));
    assertEquals(await twin.open(env, deps), text(turn));
    await b.prepare({ ...deps, random: r1 });
    twin.prepareSync({ ...deps, random: r2 });
    assertEquals(toHex(twin.digest()), toHex(b.digest()), `turn ${turn}: the same state`);
    const back = b.sealSync(text(500 + turn), deps);
    twin.sealSync(text(500 + turn), deps);
    assertEquals(await a.open(back, deps), text(500 + turn));
  }
  assertOk(b.step >= 20, `a step per turn (${b.step})`);
});

Deno.test("session: a failed open leaves the state exactly as it was; the next genuine MSG opens", async () => {
  const { a, b } = await pair();
  const env = await a.seal(text(7), deps);
  const before = toHex(b.digest());
  for (const i of [0, 1, 2, 30, env.length - 1]) {
    const bad = env.slice();
    bad[i]! ^= 1;
    await assertRejects(() => b.open(bad, deps), (e) => e instanceof ProtocolError);
    assertEquals(toHex(b.digest()), before, `byte ${i}: state unchanged`);
  }
  await assertRejects(() => b.open(rand(env.length), deps), code("auth_failed"));
  assertEquals(await b.open(env, deps), text(7));
  assertOk(toHex(b.digest()) !== before);
});

Deno.test("session: a replay is `replayed` and changes nothing; a reflected MSG is refused", async () => {
  const { a, b } = await pair();
  const env = await a.seal(text(1), deps);
  await b.open(env, deps);
  const d = toHex(b.digest());
  await assertRejects(() => b.open(env, deps), code("replayed"));
  assertEquals(toHex(b.digest()), d);
  // Reflected to its sender: A has no key for its own direction.
  await assertRejects(() => a.open(env, deps), code("auth_failed"));
});

Deno.test("session: a MSG of another session between the same pair is refused", async () => {
  const one = await pair(), two = await pair();
  const env = await one.a.seal(text(1), deps);
  await assertRejects(() => two.b.open(env, deps), code("auth_failed"));
  assertEquals(await one.b.open(env, deps), text(1));
});

Deno.test("session: serialize/parse keeps both directions and skipped keys", async () => {
  const { a, b } = await pair();
  const envs = [];
  for (let i = 0; i < 4; i++) envs.push(await a.seal(text(i), deps));
  await b.open(envs[3]!, deps); // 0..2 skipped
  const b2 = E2ESession.parse(b.serialize());
  assertEquals(toHex(b2.digest()), toHex(b.digest()));
  for (const i of [1, 0, 2]) assertEquals(await b2.open(envs[i]!, deps), text(i));
  assertEquals(await a.open(await b2.seal(text(9), deps), deps), text(9));
  assertThrows(() => E2ESession.parse(b.serialize().subarray(1)), code("bad_frame"));
});

Deno.test("session: the largest padding class is the largest ratchet plaintext", async () => {
  assertEquals(PAD_BUCKETS.at(-1), RATCHET_MAX_PLAINTEXT);
  assertEquals(RATCHET_MAX_PLAINTEXT, 63_178);
  const { a, b } = await pair();
  const big = rand(RATCHET_MAX_PLAINTEXT);
  const env = await a.seal(big, deps);
  assertOk(env.length <= 65536, `${env.length}`);
  assertEquals(await b.open(env, deps), big);
  await assertRejects(() => a.seal(rand(RATCHET_MAX_PLAINTEXT + 1), deps), code("too_large"));
});
