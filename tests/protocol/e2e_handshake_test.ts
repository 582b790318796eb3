import { e2eParty, type Party } from "../_e2e_party.ts";
import { assertEquals, assertOk, assertRejects } from "../_assert.ts";
import { concat, toHex, utf8 } from "../../protocol/bytes.ts";
import { generateDh, randomSecret, signingKeyFromSeed, verify } from "../../protocol/_crypto.ts";
import {
  E2EInitiator,
  e2ePrologue,
  E2EResponder,
  PeerVersionError,
  signStatic,
} from "../../protocol/e2e_handshake.ts";
import { HybridResponder } from "../../protocol/e2e_hybrid.ts";
import { HandshakeState } from "../../protocol/noise.ts";
import { parseEnvelope } from "../../protocol/envelope.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { clientIdFromPublicKey } from "../../protocol/identity.ts";

const [alice, bob, carol] = [await e2eParty(), await e2eParty(), await e2eParty()];
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

Deno.test("e2e handshake: hybrid XXhfs between fresh identities gives matching sessions at version 2", async () => {
  const h = hid();
  const ini = new E2EInitiator(alice, bob.id, h);
  const hs1 = await ini.start();
  const resp = new E2EResponder(bob, alice.id, parseEnvelope(hs1).id);
  const hs2 = await resp.accept(body(hs1));
  const { envelope: hs3, result: a } = await ini.finish(body(hs2));
  const b = await resp.finish(body(hs3));
  // Header 10; e 32, e1 1184, versions [2] (2, in clear) | e 32, ekem1 1088+16, s 32+16,
  // vouch ‖ version 97+16 | s 32+16, vouch 96+16 (section 11.2).
  assertEquals([hs1.length, hs2.length, hs3.length], [1228, 1307, 170]);
  assertEquals(body(hs1).subarray(32 + 1184), Uint8Array.of(1, 2), "HS1 offers [2]");
  for (const [env, kind] of [[hs1, "hs1"], [hs2, "hs2"], [hs3, "hs3"]] as const) {
    const p = parseEnvelope(env);
    assertEquals([p.kind, toHex(p.id)], [kind, toHex(h)], "every message carries the hid");
  }
  assertEquals([a.version, b.version], [2, 2]);
  assertEquals(a.peerIdentityKey, bob.identityKey);
  assertEquals(b.peerIdentityKey, alice.identityKey);
  assertEquals(toHex(a.session.sid), toHex(b.session.sid));
  const deps = { now: 1 };
  for (let i = 0; i < 3; i++) {
    const up = await a.session.seal(Uint8Array.of(i, 1), deps);
    assertEquals(up[0], 2, "a MSG is a version-2 ratchet message");
    assertEquals(await b.session.open(up, deps), Uint8Array.of(i, 1));
    const down = await b.session.seal(Uint8Array.of(i, 2), deps);
    assertEquals(await a.session.open(down, deps), Uint8Array.of(i, 2));
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
    const len = which === "hs2" ? 1297 : 160;
    // Every byte of HS3 and of HS2's classical parts; every 7th of ekem1 (e2e_hybrid_test.ts
    // flips each of those).
    for (let i = 0; i < len; i++) {
      if (which === "hs2" && i >= 32 && i < 32 + 1104 && i % 7 !== 0) continue;
      const ini = new E2EInitiator(alice, bob.id, hid());
      const resp = new E2EResponder(bob, alice.id, ini.hid);
      const hs2 = body(await firstTwo(ini, resp)).slice();
      assertEquals(hs2.length, 1297);
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

Deno.test("e2e handshake: truncated or extended HS2 and HS3 fail (a 192-byte cut is no schied/1 answer)", async () => {
  for (const cut of [0, 1, 31, 32, 191, 192, 193, 1296, 1298]) {
    const ini = new E2EInitiator(alice, bob.id, hid());
    const hs2 = body(await firstTwo(ini, new E2EResponder(bob, alice.id, ini.hid)));
    const bad = cut <= 1297 ? hs2.subarray(0, cut) : concat(hs2, Uint8Array.of(0));
    await assertRejects(() => ini.finish(bad), code("auth_failed"), `HS2 of ${bad.length}`);
  }
  const ini = new E2EInitiator(alice, bob.id, hid());
  const resp = new E2EResponder(bob, alice.id, ini.hid);
  const hs3 = body((await ini.finish(body(await firstTwo(ini, resp)))).envelope);
  await assertRejects(() => resp.finish(hs3.subarray(0, 159)), code("auth_failed"));
});

Deno.test("e2e handshake: a changed HS1 (key, KEM key or versions) fails the handshake", async () => {
  for (const change of ["e", "e1", "versions", "append"] as const) {
    const ini = new E2EInitiator(alice, bob.id, hid());
    const hs1 = body(await ini.start()).slice();
    assertEquals(hs1.length, 32 + 1184 + 2);
    if (change === "append") {
      await assertRejects(
        () => new E2EResponder(bob, alice.id, ini.hid).accept(concat(hs1, Uint8Array.of(2))),
        code("auth_failed"),
        "a malformed version list is refused by the responder",
      );
      continue;
    }
    hs1[change === "e" ? 5 : change === "e1" ? 40 : 32 + 1184 + 1]! ^= 1;
    const hs2 = await new E2EResponder(bob, alice.id, ini.hid).accept(hs1).catch(() => null);
    if (hs2) await assertRejects(() => ini.finish(body(hs2)), code("auth_failed"), change);
  }
});

Deno.test("e2e handshake: versions — the responder picks the best common one; stripping one breaks the handshake (no downgrade)", async () => {
  // Both speak a (hypothetical) version 3 and 2: they agree on 3.
  const v32 = { versions: [3, 2] };
  const ini = new E2EInitiator(alice, bob.id, hid(), v32);
  const resp = new E2EResponder(bob, alice.id, ini.hid, v32);
  const { envelope, result } = await ini.finish(body(await firstTwo(ini, resp)));
  assertEquals([result.version, (await resp.finish(body(envelope))).version], [3, 3]);
  // A relay rewrites the offer [3, 2] to [2] (same length: [1, 2] padded is impossible, so it
  // swaps the order): the responder would pick 2, but the hash differs and HS2 fails.
  const ini2 = new E2EInitiator(alice, bob.id, hid(), v32);
  const hs1 = body(await ini2.start()).slice();
  assertEquals(hs1.subarray(-3), Uint8Array.of(2, 3, 2));
  hs1.set([2, 2, 3], hs1.length - 3);
  const hs2 = await new E2EResponder(bob, alice.id, ini2.hid, { versions: [2, 3] }).accept(hs1);
  await assertRejects(() => ini2.finish(body(hs2)), code("auth_failed"), "edited offer");
  // Nothing in common: the responder refuses rather than falling back.
  const ini3 = new E2EInitiator(alice, bob.id, hid(), { versions: [3] });
  await assertRejects(
    async () => new E2EResponder(bob, alice.id, ini3.hid).accept(body(await ini3.start())),
    code("auth_failed"),
  );
});

Deno.test("e2e handshake: an answer with a version the initiator did not offer is refused", async () => {
  const ini = new E2EInitiator(alice, bob.id, hid());
  const resp = new HybridResponder(bob, alice.id);
  const msg2 = await resp.accept(body(await ini.start()), () => Uint8Array.of(1));
  await assertRejects(() => ini.finish(msg2), code("auth_failed"), "version 1 chosen");
  const ini2 = new E2EInitiator(alice, bob.id, hid());
  const msg2b = await new HybridResponder(bob, alice.id).accept(body(await ini2.start()));
  await assertRejects(() => ini2.finish(msg2b), code("auth_failed"), "no version byte");
});

/** The classical handshake of the release before (commit 44d41ba), as its daemon runs it. */
function oldSide(me: Party, peer: Uint8Array, initiator: boolean): HandshakeState {
  return new HandshakeState({
    pattern: "XX",
    initiator,
    prologue: initiator ? e2ePrologue(me.id, peer) : e2ePrologue(peer, me.id),
    s: me.staticKey,
  });
}

Deno.test("e2e handshake: a schied/1 responder answers our HS1; its authenticated HS2 is peer_version", async () => {
  const ini = new E2EInitiator(alice, bob.id, hid());
  const old = oldSide(bob, alice.id, false);
  await old.readMessage(body(await ini.start())); // takes e1 ‖ versions as a cleartext payload
  const hs2 = await old.writeMessage(bob.vouch);
  assertEquals(hs2.length, 192);
  const e = await assertRejects(() => ini.finish(hs2), code("peer_version"));
  assertOk(e instanceof PeerVersionError);
  assertEquals(e.role, "initiator");
  assertEquals(e.peerIdentityKey, bob.identityKey);
  // The same bytes from anyone but bob (a relay, carol) are no verdict.
  const ini2 = new E2EInitiator(alice, bob.id, hid());
  // carol answers as bob would (bob's id in the prologue) but with her own key and vouch.
  const fake = new HandshakeState({
    pattern: "XX",
    initiator: false,
    prologue: e2ePrologue(alice.id, bob.id),
    s: carol.staticKey,
  });
  await fake.readMessage(body(await ini2.start()));
  await assertRejects(
    async () => ini2.finish(await fake.writeMessage(carol.vouch)),
    code("key_mismatch"),
  );
  const ini3 = new E2EInitiator(alice, bob.id, hid());
  await ini3.start();
  await assertRejects(
    () => ini3.finish(crypto.getRandomValues(new Uint8Array(192))),
    code("auth_failed"),
  );
});

Deno.test("e2e handshake: a schied/1 initiator is answered classically, and its authenticated HS3 is peer_version", async () => {
  const old = oldSide(alice, bob.id, true);
  const hs1 = await old.writeMessage(new Uint8Array());
  assertEquals(hs1.length, 32);
  const resp = new E2EResponder(bob, alice.id, hid());
  const hs2 = body(await resp.accept(hs1));
  assertEquals(hs2.length, 192, "a classical HS2, so that the old daemon sends HS3");
  await old.readMessage(hs2);
  const hs3 = await old.writeMessage(alice.vouch);
  const e = await assertRejects(() => resp.finish(hs3), code("peer_version"));
  assertOk(e instanceof PeerVersionError);
  assertEquals([e.role, toHex(e.peerIdentityKey)], ["responder", toHex(alice.identityKey)]);
  // A forged 32-byte HS1 (the relay) gets an answer, but no HS3 it could make passes.
  const resp2 = new E2EResponder(bob, alice.id, hid());
  await resp2.accept((await generateDh()).publicKey);
  await assertRejects(
    () => resp2.finish(crypto.getRandomValues(new Uint8Array(160))),
    code("auth_failed"),
  );
});
