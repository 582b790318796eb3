/**
 * A malicious relay routes A's handshake for B to C (and C's answer back to A as if from B).
 * The prologue binds initiator ‖ responder ids, so the handshake breaks: no session on either
 * side, nothing reaches C, A's message stays undelivered. An honest relay then delivers.
 *
 * @module
 */
import { e2eParty } from "../_e2e_party.ts";
import { assertEquals, assertOk, assertRejects } from "../_assert.ts";
import { waitFor } from "../harness.ts";
import { E2EInitiator, E2EResponder } from "../../protocol/e2e_handshake.ts";
import { parseEnvelope } from "../../protocol/envelope.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { HS1, HS2, HS3, MSG, type Peer, received, startWorld } from "./_world.ts";

Deno.test("relay routes A's handshake for B to C: both abort, nothing reaches C", async () => {
  // A and B know each other; C knows nobody (so a key C pinned could only come from a handshake).
  const w = await startWorld(3, (i, j) => i < 2 && j < 2);
  try {
    const [a, b, c] = w.peers as [Peer, Peer, Peer];
    w.hub.rule = (r, hub) => {
      if (r.from === a.key && r.to === b.key) return hub.inject(c.key, a.key, r.envelope);
      if (r.from === c.key && r.to === a.key) return hub.inject(a.key, b.key, r.envelope);
      return undefined;
    };
    const sent = await a.d.engine.send({ to: b.id, text: "meant for B" });
    // C answered A's first try, A dropped it and dialed again: the first attempt is over.
    await waitFor(
      () => w.hub.seen(c.key, a.key, HS2).length >= 1 && w.hub.seen(a.key, b.key, HS1).length >= 2,
      "C's answer and A's next attempt",
      20_000,
    );
    assertEquals(w.hub.seen(a.key, b.key, HS3).length, 0, "A never finished with C's answer");
    assertEquals(w.hub.seen(a.key, b.key, MSG).length, 0, "A never sealed a message");
    for (const p of [a, b, c]) assertEquals(p.d.engine.status().sessions, 0, "no session");
    assertEquals(c.d.engine.messages({}), [], "nothing delivered to C");
    assertEquals(c.events.filter((e) => e.type === "message"), []);
    const cKnowsA = c.d.engine.contacts().find((x) => x.id === a.id);
    assertEquals(cKnowsA?.identity_key ?? null, null, "C pinned no key for A");
    assertEquals(a.d.engine.message(sent.id).status, "queued", "A's message is undelivered");
    assertEquals(received(b, a), []);

    // Positive control: an honest relay delivers the same message to B, still nothing to C.
    w.hub.rule = undefined;
    await waitFor(
      () => a.d.engine.message(sent.id).status === "delivered",
      "delivery once the relay is honest",
      20_000,
    );
    assertEquals(received(b, a), ["meant for B"]);
    assertEquals(c.d.engine.messages({}), []);
    assertEquals(c.d.engine.status().sessions, 0);
  } finally {
    await w.close();
  }
});

const authFailed = (e: Error) => e instanceof ProtocolError && e.code === "auth_failed";
const hid = () => crypto.getRandomValues(new Uint8Array(8));
const body = (env: Uint8Array) => parseEnvelope(env).body;

Deno.test("misrouted handshake messages fail at both ends (prologue binds both ids)", async () => {
  const [a, b, c] = [await e2eParty(), await e2eParty(), await e2eParty()];
  // C gets A's HS1 for B: C's answer does not open at A.
  const i1 = new E2EInitiator(a, b.id, hid());
  const hs1 = await i1.start();
  const toC = new E2EResponder(c, a.id, parseEnvelope(hs1).id);
  const hs2FromC = await toC.accept(body(hs1));
  await assertRejects(() => i1.finish(body(hs2FromC)), authFailed, "A accepted C's answer");

  // The relay copies HS1 to B and C and hands A's HS3 to C: C cannot finish it either.
  const i2 = new E2EInitiator(a, b.id, hid());
  const hs1b = await i2.start();
  const atB = new E2EResponder(b, a.id, parseEnvelope(hs1b).id);
  const atC = new E2EResponder(c, a.id, parseEnvelope(hs1b).id);
  await atC.accept(body(hs1b));
  const hs2 = await atB.accept(body(hs1b));
  const { envelope: hs3, result } = await i2.finish(body(hs2));
  await assertRejects(() => atC.finish(body(hs3)), authFailed, "C accepted A's HS3 for B");

  // Positive control: the same HS3 at B completes, and the sessions talk.
  const atBResult = await atB.finish(body(hs3));
  assertEquals([result.version, atBResult.version], [2, 2], "end-to-end version 2 on both sides");
  const now = Date.now();
  const env = await result.session.seal(new Uint8Array(256).fill(7), { now });
  const opened = await atBResult.session.open(env, { now });
  assertEquals(opened, new Uint8Array(256).fill(7));
  assertOk(atBResult.peerIdentityKey.length === 32);

  // A MSG names no session; one from another session between the same two ids is refused (its
  // header keys, handshake hash and so AD differ), and leaves the receiving state as it was.
  const i3 = new E2EInitiator(a, b.id, hid());
  const hs1c = await i3.start();
  const atB2 = new E2EResponder(b, a.id, parseEnvelope(hs1c).id);
  const fin = await i3.finish(body(await atB2.accept(body(hs1c))));
  const other = (await atB2.finish(body(fin.envelope))).session;
  const fromOther = await fin.result.session.seal(new Uint8Array(256).fill(8), { now });
  const before = atBResult.session.digest();
  await assertRejects(
    () => atBResult.session.open(fromOther, { now }),
    authFailed,
    "B's first session opened a MSG of its second",
  );
  assertEquals(atBResult.session.digest(), before, "the refusal changed nothing");
  await assertRejects(() => other.open(env, { now }), authFailed, "and the other way round");
  assertEquals(await other.open(fromOther, { now }), new Uint8Array(256).fill(8));
});
