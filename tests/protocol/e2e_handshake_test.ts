import { assertEquals, assertOk, assertRejects } from "../_assert.ts";
import { concat, toHex, utf8 } from "../../protocol/bytes.ts";
import { generateDh, randomSecret, signingKeyFromSeed, verify } from "../../protocol/_crypto.ts";
import {
  E2EInitiator,
  type E2EKeys,
  e2ePrologue,
  E2EResponder,
  signStatic,
} from "../../protocol/e2e_handshake.ts";
import { parseEnvelope } from "../../protocol/envelope.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { clientIdFromPublicKey } from "../../protocol/identity.ts";

interface Party extends E2EKeys {
  identityKey: Uint8Array;
}

async function party(): Promise<Party> {
  const identity = await signingKeyFromSeed(randomSecret());
  const staticKey = await generateDh();
  return {
    id: clientIdFromPublicKey(identity.publicKey),
    staticKey,
    vouch: await signStatic(identity, staticKey.publicKey),
    identityKey: identity.publicKey,
  };
}

const [alice, bob, carol] = [await party(), await party(), await party()];
const hid = () => crypto.getRandomValues(new Uint8Array(8));
const code = (c: string) => (e: Error) => e instanceof ProtocolError && e.code === c;
const body = (envelope: Uint8Array) => parseEnvelope(envelope).body;

/** Runs HS1 and HS2 from `ini` to `resp`; returns HS2. */
async function firstTwo(ini: E2EInitiator, resp: E2EResponder): Promise<Uint8Array> {
  const hs1 = await ini.start();
  return await resp.accept(body(hs1));
}

Deno.test("e2e handshake: the prologue is label ‖ version ‖ initiator id ‖ responder id", () => {
  assertEquals(
    e2ePrologue(alice.id, bob.id),
    concat(utf8.encode("schied/1/e2e-prologue"), Uint8Array.of(1), alice.id, bob.id),
  );
  assertEquals(alice.vouch.length, 96);
  assertEquals(alice.vouch.subarray(0, 32), alice.identityKey);
  const signed = concat(utf8.encode("schied/1/e2e-static"), alice.staticKey.publicKey);
  assertOk(verify(alice.identityKey, signed, alice.vouch.subarray(32)), "vouch = key ‖ sig");
});

Deno.test("e2e handshake: XX between fresh identities gives matching sessions", async () => {
  const h = hid();
  const ini = new E2EInitiator(alice, bob.id, h);
  const hs1 = await ini.start();
  const resp = new E2EResponder(bob, alice.id, parseEnvelope(hs1).id);
  const hs2 = await resp.accept(body(hs1));
  const { envelope: hs3, result: a } = await ini.finish(body(hs2));
  const b = await resp.finish(body(hs3));
  // Sizes: header 10 + e 32; + e 32, s 32+16, vouch 96+16; + s 32+16, vouch 96+16.
  assertEquals([hs1.length, hs2.length, hs3.length], [42, 202, 170]);
  for (const [env, kind] of [[hs1, "hs1"], [hs2, "hs2"], [hs3, "hs3"]] as const) {
    const p = parseEnvelope(env);
    assertEquals([p.kind, toHex(p.id)], [kind, toHex(h)], "every message carries the hid");
  }
  assertEquals(a.peerIdentityKey, bob.identityKey);
  assertEquals(b.peerIdentityKey, alice.identityKey);
  assertEquals(toHex(a.session.sid), toHex(b.session.sid));
  assertEquals(a.session.sid.length, 8);
  const ab = concat(alice.id, bob.id), ba = concat(bob.id, alice.id);
  for (let i = 0; i < 3; i++) {
    const up = await a.session.seal(Uint8Array.of(i, 1), ab);
    assertEquals(await b.session.open(parseEnvelope(up), ab), Uint8Array.of(i, 1));
    const down = await b.session.seal(Uint8Array.of(i, 2), ba);
    assertEquals(await a.session.open(parseEnvelope(down), ba), Uint8Array.of(i, 2));
  }
});

Deno.test("e2e handshake: two handshakes between the same pair give unrelated sessions", async () => {
  const sids = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const ini = new E2EInitiator(alice, bob.id, hid());
    const resp = new E2EResponder(bob, alice.id, ini.hid);
    const { envelope, result } = await ini.finish(body(await firstTwo(ini, resp)));
    await resp.finish(body(envelope));
    sids.add(toHex(result.session.sid));
  }
  assertEquals(sids.size, 3, "fresh ephemerals every time");
});

Deno.test("e2e handshake: a responder whose key does not hash to the dialed id → key_mismatch", async () => {
  // Carol answers a handshake meant for Bob, claiming Bob's id so that the prologues agree.
  const ini = new E2EInitiator(alice, bob.id, hid());
  const impostor = new E2EResponder({ ...carol, id: bob.id }, alice.id, ini.hid);
  const hs2 = await firstTwo(ini, impostor);
  await assertRejects(() => ini.finish(body(hs2)), code("key_mismatch"));
});

Deno.test("e2e handshake: an initiator whose key does not hash to the named sender → key_mismatch", async () => {
  // The relay names Carol as the sender; Alice, posing as Carol, cannot vouch as Carol.
  const ini = new E2EInitiator({ ...alice, id: carol.id }, bob.id, hid());
  const resp = new E2EResponder(bob, carol.id, ini.hid);
  const { envelope } = await ini.finish(body(await firstTwo(ini, resp)));
  await assertRejects(() => resp.finish(body(envelope)), code("key_mismatch"));
});

Deno.test("e2e handshake: a misrouted or misattributed handshake fails on the prologue", async () => {
  // Alice dials Carol, but the relay hands HS1 to Bob: the prologues differ, HS2 fails.
  const toCarol = new E2EInitiator(alice, carol.id, hid());
  const hs2 = await firstTwo(toCarol, new E2EResponder(bob, alice.id, toCarol.hid));
  await assertRejects(() => toCarol.finish(body(hs2)), code("auth_failed"));
  // Alice dials Bob, but the relay tells Bob the sender is Carol: HS2 fails at Alice.
  const toBob = new E2EInitiator(alice, bob.id, hid());
  const hs2b = await firstTwo(toBob, new E2EResponder(bob, carol.id, toBob.hid));
  await assertRejects(() => toBob.finish(body(hs2b)), code("auth_failed"));
});

Deno.test("e2e handshake: a vouch over another static key → key_mismatch, both directions", async () => {
  const identity = await signingKeyFromSeed(randomSecret());
  const other = await generateDh();
  const liar: Party = {
    id: clientIdFromPublicKey(identity.publicKey),
    staticKey: await generateDh(),
    vouch: await signStatic(identity, other.publicKey), // signs a key it does not use
    identityKey: identity.publicKey,
  };
  const ini = new E2EInitiator(alice, liar.id, hid());
  const hs2 = await firstTwo(ini, new E2EResponder(liar, alice.id, ini.hid));
  await assertRejects(() => ini.finish(body(hs2)), code("key_mismatch"), "liar answers");

  const ini2 = new E2EInitiator(liar, bob.id, hid());
  const resp = new E2EResponder(bob, liar.id, ini2.hid);
  const { envelope } = await ini2.finish(body(await firstTwo(ini2, resp)));
  await assertRejects(() => resp.finish(body(envelope)), code("key_mismatch"), "liar dials");
});

Deno.test("e2e handshake: a vouch of the wrong size fails as auth_failed", async () => {
  for (
    const vouch of [
      new Uint8Array(),
      alice.vouch.subarray(0, 95),
      concat(alice.vouch, Uint8Array.of(0)),
    ]
  ) {
    const ini = new E2EInitiator(alice, bob.id, hid());
    const hs2 = await firstTwo(ini, new E2EResponder({ ...bob, vouch }, alice.id, ini.hid));
    await assertRejects(() => ini.finish(body(hs2)), code("auth_failed"));
  }
});

Deno.test("e2e handshake: flipping any byte of HS2 or HS3 fails the handshake", async () => {
  const flips = [0x01, 0x80];
  for (const which of ["hs2", "hs3"] as const) {
    const len = which === "hs2" ? 192 : 160;
    for (let i = 0; i < len; i++) {
      const ini = new E2EInitiator(alice, bob.id, hid());
      const resp = new E2EResponder(bob, alice.id, ini.hid);
      const hs2 = body(await firstTwo(ini, resp)).slice();
      assertEquals(hs2.length, 192);
      if (which === "hs2") {
        hs2[i]! ^= flips[i % 2]!;
        await assertRejects(() => ini.finish(hs2), code("auth_failed"), `HS2 byte ${i}`);
        continue;
      }
      const hs3 = body((await ini.finish(hs2)).envelope).slice();
      assertEquals(hs3.length, len);
      hs3[i]! ^= flips[i % 2]!;
      await assertRejects(() => resp.finish(hs3), code("auth_failed"), `HS3 byte ${i}`);
    }
  }
});

Deno.test("e2e handshake: truncated or extended HS2 and HS3 fail", async () => {
  for (const cut of [0, 1, 31, 32, 191, 193]) {
    const ini = new E2EInitiator(alice, bob.id, hid());
    const hs2 = body(await firstTwo(ini, new E2EResponder(bob, alice.id, ini.hid)));
    const bad = cut <= 192 ? hs2.subarray(0, cut) : concat(hs2, Uint8Array.of(0));
    await assertRejects(() => ini.finish(bad), code("auth_failed"), `HS2 of ${bad.length}`);
  }
  const ini = new E2EInitiator(alice, bob.id, hid());
  const resp = new E2EResponder(bob, alice.id, ini.hid);
  const hs3 = body((await ini.finish(body(await firstTwo(ini, resp)))).envelope);
  await assertRejects(() => resp.finish(hs3.subarray(0, 159)), code("auth_failed"));
});

Deno.test("e2e handshake: a changed HS1 is accepted by the responder but HS2 then fails", async () => {
  for (const change of ["flip", "append"] as const) {
    const ini = new E2EInitiator(alice, bob.id, hid());
    const hs1 = body(await ini.start());
    assertEquals(hs1.length, 32, "HS1 is the initiator's ephemeral key, no payload");
    const bad = change === "flip" ? hs1.map((b, i) => (i === 5 ? b ^ 1 : b)) : concat(hs1, hs1);
    const hs2 = await new E2EResponder(bob, alice.id, ini.hid).accept(bad);
    await assertRejects(() => ini.finish(body(hs2)), code("auth_failed"), change);
  }
});
