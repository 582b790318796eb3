import { assertEquals, assertOk, assertRejects } from "../_assert.ts";
import { concat, fromBase64Url, toBase64Url, toHex } from "../../protocol/bytes.ts";
import { MAX_SKIP, MAX_SKIPPED_KEYS } from "../../protocol/constants.ts";
import { parseEnvelope } from "../../protocol/envelope.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { chainStep, E2ESession, type SessionJson } from "../../protocol/session.ts";

const rand = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const [idA, idB, idC] = [rand(16), rand(16), rand(16)];
const AB = concat(idA, idB), BA = concat(idB, idA);
const code = (c: string) => (e: Error) => e instanceof ProtocolError && e.code === c;
const text = (i: number) => Uint8Array.of(i >> 8, i & 0xff, 0x5a);
const snapshot = (s: E2ESession) => JSON.stringify(s.toJSON());

/** Alice (initiator) and Bob (responder) as a finished handshake would leave them. */
function pair(): { a: E2ESession; b: E2ESession; h: Uint8Array; i2r: Uint8Array } {
  const h = rand(32), i2r = rand(32), r2i = rand(32);
  return {
    a: E2ESession.fromHandshake(h, [i2r, r2i], true),
    b: E2ESession.fromHandshake(h, [i2r, r2i], false),
    h,
    i2r,
  };
}

async function sealMany(s: E2ESession, n: number, ad = AB): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(await s.seal(text(i), ad));
  return out;
}

/** Tries AES-256-GCM with `mk` directly on a MSG envelope, as a thief of that key would. */
async function opensWith(mk: Uint8Array, envelope: Uint8Array, ad: Uint8Array): Promise<boolean> {
  const key = await crypto.subtle.importKey("raw", mk as BufferSource, "AES-GCM", false, [
    "decrypt",
  ]);
  const alg = {
    name: "AES-GCM",
    iv: new Uint8Array(12),
    additionalData: concat(envelope.subarray(0, 14), ad),
  };
  return crypto.subtle.decrypt(alg, key, envelope.subarray(14) as BufferSource).then(
    () => true,
    () => false,
  );
}

async function hmac(key: Uint8Array, byte: number): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    "raw",
    key as BufferSource,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, Uint8Array.of(byte)));
}

Deno.test("session: known answer: sid, chain step, nonce, associated data, layout", async () => {
  const { a, h, i2r } = pair();
  assertEquals(toHex(a.sid), toHex(h.subarray(0, 8)));
  const step = chainStep(i2r);
  assertEquals(step.mk, await hmac(i2r, 1), "mk = HMAC(ck, 0x01)");
  assertEquals(step.next, await hmac(i2r, 2), "ck' = HMAC(ck, 0x02)");
  const [m0, m1] = await sealMany(a, 2);
  assertEquals(m0!.length, 10 + 4 + 3 + 16, "header ‖ n ‖ ciphertext ‖ tag");
  assertEquals([...m1!.subarray(0, 14)], [1, 4, ...a.sid, 0, 0, 0, 1]);
  assertOk(await opensWith(step.mk, m0!, AB));
  assertOk(await opensWith(chainStep(step.next).mk, m1!, AB));
  assertOk(!(await opensWith(step.mk, m1!, AB)), "one key per message");
  assertEquals(a.sendCount, 2);
});

Deno.test("session: many messages in order, both ways", async () => {
  const { a, b } = pair();
  for (let i = 0; i < 300; i++) {
    assertEquals(await b.open(parseEnvelope(await a.seal(text(i), AB)), AB), text(i));
    assertEquals(await a.open(parseEnvelope(await b.seal(text(i + 1), BA)), BA), text(i + 1));
  }
  assertEquals([a.toJSON().sendN, a.toJSON().recvN, b.toJSON().skipped.length], [300, 300, 0]);
});

Deno.test("session: out-of-order delivery within the skipped-key bound opens every message", async () => {
  const { a, b } = pair();
  const envs = await sealMany(a, 64);
  for (let k = 0; k < 64; k++) {
    const i = (k * 37 + 11) % 64; // a permutation of 0..63
    assertEquals(await b.open(parseEnvelope(envs[i]!), AB), text(i), `message ${i}`);
  }
  assertEquals(b.toJSON().skipped, [], "every skipped key is used and deleted");
});

Deno.test("session: a replay is rejected with `replayed` and changes nothing", async () => {
  const { a, b } = pair();
  const envs = await sealMany(a, 3);
  await b.open(parseEnvelope(envs[2]!), AB); // 0 and 1 become skipped keys
  await b.open(parseEnvelope(envs[0]!), AB);
  const before = snapshot(b);
  for (const i of [0, 2, 0]) {
    const e = await assertRejects(() => b.open(parseEnvelope(envs[i]!), AB), code("replayed"));
    assertEquals(e.message, `Message ${i} was already received`);
  }
  assertEquals(snapshot(b), before);
  assertEquals(await b.open(parseEnvelope(envs[1]!), AB), text(1), "the late one still opens");
});

Deno.test("session: any changed byte is rejected and the next genuine message still opens", async () => {
  const { a, b } = pair();
  const [m0, m1] = await sealMany(a, 2);
  const before = snapshot(b);
  for (let i = 0; i < m0!.length; i++) {
    const bad = m0!.slice();
    bad[i]! ^= 0x01;
    if (i <= 1) { // version 1 → 0, kind 4 → 5: not an envelope at all
      const e = await assertRejects(
        async () => await b.open(parseEnvelope(bad), AB),
        code("bad_frame"),
      );
      assertOk(e.message.startsWith("Cannot parse envelope"), e.message);
      continue;
    }
    // Bytes 10 and 11 are the counter's top bytes: n = 2^24 or 2^16 is beyond MAX_SKIP,
    // refused without work.
    const want = i === 10 || i === 11 ? "session_unknown" : "auth_failed";
    await assertRejects(() => b.open(parseEnvelope(bad), AB), code(want), `byte ${i}`);
  }
  const asHs3 = m0!.slice();
  asHs3[1] = 3; // the kind is authenticated too
  await assertRejects(() => b.open(parseEnvelope(asHs3), AB), code("auth_failed"));
  for (const cut of [10, 13, 14, 29, m0!.length - 1]) {
    await assertRejects(() => b.open(parseEnvelope(m0!.subarray(0, cut)), AB), code("auth_failed"));
  }
  assertEquals(snapshot(b), before, "no failed attempt changed the state");
  assertEquals(await b.open(parseEnvelope(m0!), AB), text(0));
  assertEquals(await b.open(parseEnvelope(m1!), AB), text(1));
});

Deno.test("session: the wrong associated data (swapped or other ids) is rejected", async () => {
  const { a, b } = pair();
  const [m0] = await sealMany(a, 1);
  for (const ad of [BA, concat(idA, idC), concat(idC, idB), new Uint8Array(), idA]) {
    await assertRejects(() => b.open(parseEnvelope(m0!), ad), code("auth_failed"));
  }
  assertEquals(await b.open(parseEnvelope(m0!), AB), text(0));
  // A session from another handshake does not open it either.
  await assertRejects(() => pair().b.open(parseEnvelope(m0!), AB), code("auth_failed"));
});

Deno.test("session: a gap of MAX_SKIP is bridged, one more is `session_unknown`", async () => {
  const { a, b, i2r } = pair();
  let ck = i2r;
  for (let i = 0; i < MAX_SKIP; i++) ck = chainStep(ck).next;
  const j = a.toJSON();
  const at = (n: number, key: Uint8Array) =>
    E2ESession.fromJSON({ ...j, sendN: n, sendCk: toBase64Url(key) });
  const far = await at(MAX_SKIP + 1, chainStep(ck).next).seal(text(1), AB);
  const before = snapshot(b);
  const e = await assertRejects(() => b.open(parseEnvelope(far), AB), code("session_unknown"));
  assertEquals(e.message, `Message ${MAX_SKIP + 1} is too far ahead of 0`);
  assertEquals(snapshot(b), before);
  const edge = await at(MAX_SKIP, ck).seal(text(0), AB);
  assertEquals(await b.open(parseEnvelope(edge), AB), text(0));
  const skipped = b.toJSON().skipped;
  assertEquals(skipped.length, MAX_SKIPPED_KEYS, "only the newest skipped keys are kept");
  assertEquals([skipped[0]![0], skipped.at(-1)![0]], [MAX_SKIP - MAX_SKIPPED_KEYS, MAX_SKIP - 1]);
  assertEquals(await b.open(parseEnvelope(far), AB), text(1), "now within reach");
});

Deno.test("session: skipped keys are bounded and the oldest are evicted first", async () => {
  const { a, b } = pair();
  const envs = await sealMany(a, MAX_SKIPPED_KEYS + 16);
  const last = MAX_SKIPPED_KEYS + 10; // skips 0..1009: 1010 keys, the 10 oldest dropped
  await b.open(parseEnvelope(envs[last]!), AB);
  const indexes = () => b.toJSON().skipped.map(([n]) => n);
  assertEquals(indexes().length, MAX_SKIPPED_KEYS);
  assertEquals(indexes()[0], 10);
  for (const i of [0, 9]) {
    await assertRejects(() => b.open(parseEnvelope(envs[i]!), AB), code("replayed"), `${i}`);
  }
  assertEquals(await b.open(parseEnvelope(envs[10]!), AB), text(10)); // 999 kept now
  await b.open(parseEnvelope(envs[last + 2]!), AB); // skips one: 1000 kept
  assertEquals([indexes().length, indexes()[0]], [MAX_SKIPPED_KEYS, 11]);
  await b.open(parseEnvelope(envs[last + 4]!), AB); // skips one more: 11 is evicted
  assertEquals([indexes().length, indexes()[0], indexes().at(-1)], [
    MAX_SKIPPED_KEYS,
    12,
    last + 3,
  ]);
  await assertRejects(() => b.open(parseEnvelope(envs[11]!), AB), code("replayed"));
  for (const i of [12, last + 1, last + 3]) {
    assertEquals(await b.open(parseEnvelope(envs[i]!), AB), text(i));
  }
});

Deno.test("session: toJSON/fromJSON keeps both directions and the skipped keys", async () => {
  const { a, b } = pair();
  const envs = await sealMany(a, 4);
  await b.open(parseEnvelope(envs[3]!), AB); // 0..2 skipped
  await a.open(parseEnvelope(await b.seal(text(9), BA)), BA);
  const j: SessionJson = JSON.parse(JSON.stringify(b.toJSON()));
  assertEquals(Object.keys(j).sort(), ["recvCk", "recvN", "sendCk", "sendN", "sid", "skipped"]);
  assertEquals([j.sendN, j.recvN, j.skipped.map(([n]) => n)], [1, 4, [0, 1, 2]]);
  assertEquals(fromBase64Url(j.sid), b.sid);
  const a2 = E2ESession.fromJSON(JSON.parse(JSON.stringify(a.toJSON())));
  const b2 = E2ESession.fromJSON(j);
  assertEquals(snapshot(b2), snapshot(b));
  assertEquals(await b2.open(parseEnvelope(envs[1]!), AB), text(1), "a skipped key survives");
  for (let i = 0; i < 5; i++) {
    assertEquals(await b2.open(parseEnvelope(await a2.seal(text(i), AB)), AB), text(i));
    assertEquals(await a2.open(parseEnvelope(await b2.seal(text(i), BA)), BA), text(i));
  }
  await assertRejects(() => b2.open(parseEnvelope(envs[3]!), AB), code("replayed"));
});

Deno.test("session: forward secrecy: no stored key opens a message already opened", async () => {
  const { a, b } = pair();
  const envs = await sealMany(a, 6);
  for (const i of [5, 2]) await b.open(parseEnvelope(envs[i]!), AB); // 0, 1, 3, 4 stay skipped
  await b.seal(text(0), BA);
  for (const [who, s] of [["receiver", b], ["sender", a]] as const) {
    const j = s.toJSON();
    const keys = [j.sendCk, j.recvCk, ...j.skipped.map(([, k]) => k)].map(fromBase64Url);
    for (const i of [2, 5]) {
      for (const k of keys) {
        // Neither as a message key nor as a chain key (a few steps on) does it open message i.
        let ck = k;
        assertOk(!(await opensWith(k, envs[i]!, AB)), `${who}: a stored key opens ${i}`);
        for (let step = 0; step < 8; step++) {
          const { mk, next } = chainStep(ck);
          assertOk(!(await opensWith(mk, envs[i]!, AB)), `${who}: a stored chain opens ${i}`);
          ck = next;
        }
      }
    }
  }
  // The same holds through the session API after a restore.
  const restored = E2ESession.fromJSON(b.toJSON());
  for (const i of [2, 5]) {
    await assertRejects(() => restored.open(parseEnvelope(envs[i]!), AB), code("replayed"));
  }
  // The skipped keys, by contrast, still open exactly their own messages.
  assertEquals(await restored.open(parseEnvelope(envs[3]!), AB), text(3));
});

Deno.test("session: a session refuses to seal past 2^32 - 1 messages with `rekey`", async () => {
  const { a, b } = pair();
  const j = a.toJSON();
  const almost = E2ESession.fromJSON({ ...j, sendN: 2 ** 32 - 2 });
  const env = await almost.seal(text(0), AB);
  assertEquals([...env.subarray(10, 14)], [0xff, 0xff, 0xff, 0xfe]);
  await assertRejects(() => almost.seal(text(1), AB), code("rekey"));
  assertEquals(almost.sendCount, 2 ** 32 - 1, "a refused seal does not advance the chain");
  // The receiver refuses it anyway: it is far beyond MAX_SKIP.
  await assertRejects(() => b.open(parseEnvelope(env), AB), code("session_unknown"));
});
