/**
 * A malicious relay impersonates B: it answers A's handshake for B itself (as an impostor M with
 * another identity key), naming B as the sender. A must refuse with `key_mismatch`, pin nothing
 * but B's real key, and never let M read a message. Once the relay stops, the same setup
 * delivers (positive control).
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import type { JournalEvent } from "../../daemon/service.ts";
import { waitFor } from "../harness.ts";
import { concat, fromBase64Url, utf8 } from "../../protocol/bytes.ts";
import {
  generateDh,
  randomSecret,
  sign,
  signingKeyFromSeed,
  type SigningKeyPair,
} from "../../protocol/_crypto.ts";
import { E2E_STATIC_LABEL } from "../../protocol/constants.ts";
import { E2EResponder, signStatic } from "../../protocol/e2e_handshake.ts";
import { parseEnvelope } from "../../protocol/envelope.ts";
import { parseId } from "../../protocol/identity.ts";
import type { E2ESession } from "../../protocol/session.ts";
import { HS1, HS3, kindOf, MSG, type Peer, received, startWorld, type World } from "./_world.ts";

/** M's vouch from its identity, its static key and B's (public) identity key. */
type Vouch = (
  identity: SigningKeyPair,
  staticPub: Uint8Array,
  bKey: Uint8Array,
) => Promise<Uint8Array>;

/** What M, the impostor, got to see. */
interface Impostor {
  hs1: number;
  /** Sessions M completed (none, if A aborted). */
  sessions: E2ESession[];
  /** MSG envelopes M received (none: A never seals for M). */
  msgs: number;
}

/**
 * Makes the relay answer A's envelopes for B with impostor M, whose vouch is `vouch(M's
 * identity, M's static key)`; M's replies reach A with from = B.
 */
async function impersonateB(
  w: World,
  a: Peer,
  b: Peer,
  vouch: Vouch,
): Promise<Impostor> {
  const identity = await signingKeyFromSeed(randomSecret());
  const staticKey = await generateDh();
  const bKey = fromBase64Url(b.d.engine.me().identity_key);
  const keys = {
    id: parseId(b.id),
    staticKey,
    vouch: await vouch(identity, staticKey.publicKey, bKey),
  };
  const seen: Impostor = { hs1: 0, sessions: [], msgs: 0 };
  let responder: E2EResponder | undefined;
  w.hub.rule = (r, hub) => {
    if (r.from !== a.key || r.to !== b.key) return undefined;
    if (kindOf(r.envelope) === MSG) { // a ratchet message has no version-1 envelope to parse
      seen.msgs++;
      return "delivered";
    }
    const env = parseEnvelope(r.envelope);
    if (env.kind === "hs1") {
      seen.hs1++;
      responder = new E2EResponder(keys, parseId(a.id), env.id);
      void responder.accept(env.body).then((hs2) => hub.inject(a.key, b.key, hs2));
    } else if (env.kind === "hs3") {
      void responder?.finish(env.body).then((res) => seen.sessions.push(res.session), () => {});
    }
    return "delivered";
  };
  return seen;
}

async function run(vouch: Vouch, why: RegExp): Promise<void> {
  const w = await startWorld(2);
  try {
    const [a, b] = w.peers as [Peer, Peer];
    const bKey = b.d.engine.me().identity_key;
    const m = await impersonateB(w, a, b, vouch);
    const sent = await a.d.engine.send({ to: b.id, text: "for B only" });
    const err = await waitFor(
      () =>
        a.events.find((e): e is Extract<JournalEvent, { type: "error" }> =>
          e.type === "error" && e.data.code === "key_mismatch"
        ),
      "A to refuse the impostor with key_mismatch",
    );
    assertEquals(err.data.peer, b.id, "the error names the peer A dialed");
    assertOk(
      why.test(String(err.data.message)),
      `refused for the right reason: ${err.data.message}`,
    );
    assertOk(m.hs1 >= 1, "the impostor did get A's handshake");
    // A aborted at HS2: no HS3, no session, nothing sealed, nothing delivered.
    assertEquals(w.hub.seen(a.key, b.key, HS3).length, 0, "A never finished the handshake");
    assertEquals(w.hub.seen(a.key, b.key, MSG).length, 0, "A never sealed a message");
    assertEquals(m.sessions.length, 0, "M holds no session");
    assertEquals(m.msgs, 0, "M got no ciphertext, let alone plaintext");
    assertEquals(a.d.engine.status().sessions, 0);
    assertEquals(a.d.engine.message(sent.id).status, "queued");
    const pinned = a.d.engine.contacts();
    assertEquals(pinned.map((c) => [c.id, c.identity_key]), [[b.id, bKey]], "only B's real key");
    assertEquals(received(b, a), [], "B got nothing while impersonated");

    // Positive control: the same daemons, an honest relay: A's next try reaches B.
    w.hub.rule = undefined;
    await waitFor(
      () => a.d.engine.message(sent.id).status === "delivered",
      "delivery once the relay is honest",
      20_000,
    );
    assertEquals(received(b, a), ["for B only"]);
    assertOk(w.hub.seen(a.key, b.key, HS1).length >= 2, "a new handshake after the refusal");
    assertEquals(a.d.engine.contacts().map((c) => c.identity_key), [bKey], "still B's key");
  } finally {
    await w.close();
  }
}

Deno.test("relay impersonates B with another identity key: A refuses with key_mismatch", async () => {
  await run((identity, s) => signStatic(identity, s), /does not match its id/);
});

Deno.test("relay impersonates B with B's key but cannot sign: A refuses with key_mismatch", async () => {
  // M shows B's real identity key (it is public), but can only sign with its own.
  await run(async (identity, s, bKey) => {
    const sig = await sign(identity, concat(utf8.encode(E2E_STATIC_LABEL), s));
    return concat(bKey, sig);
  }, /did not sign/);
});
