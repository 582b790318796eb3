/**
 * Attack: message 3 carries a login signature that is not a valid, strict signature of this
 * session's handshake hash by the claimed identity key: signed by another key, malleated (S+L),
 * over another session's hash, without the label, or the "universal" signature that lax
 * verifiers accept for the small-order identity key. The Noise part of message 3 is built
 * honestly, so only the signature check can refuse these.
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { assertEquals, assertOk } from "../_assert.ts";
import { concat } from "../../protocol/bytes.ts";
import { PROTOCOL_VERSION } from "../../protocol/constants.ts";
import { sign, type SigningKeyPair, verify } from "../../protocol/_crypto.ts";
import { linkPrologue, loginSignedBytes } from "../../protocol/link_handshake.ts";
import { HandshakeState } from "../../protocol/noise.ts";
import { daemonKeys, RawClient, settled, startTestRelay, type TestRelay } from "./_helpers.ts";

/** The order of the Ed25519 group. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function leToBig(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}

function bigToLe(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** The same signature with S replaced by S + L (still < 2^256, same value mod L). */
function malleate(sig: Uint8Array): Uint8Array {
  const s = leToBig(sig.subarray(32)) + L;
  assertOk(s < 2n ** 256n);
  return concat(sig.subarray(0, 32), bigToLe(s));
}

/** Runs a handshake whose login payload is `payload(h)`; returns the socket after message 3. */
async function login(
  r: TestRelay,
  payload: (h: Uint8Array) => Uint8Array | Promise<Uint8Array>,
): Promise<RawClient> {
  const { linkKey } = await daemonKeys();
  const c = await RawClient.open(r.url);
  const hs = new HandshakeState({
    pattern: "XK",
    initiator: true,
    prologue: linkPrologue([PROTOCOL_VERSION]),
    s: linkKey,
    rs: r.key,
  });
  c.send(concat(Uint8Array.of(1, PROTOCOL_VERSION), await hs.writeMessage(new Uint8Array())));
  await hs.readMessage(await c.next());
  c.send(await hs.writeMessage(payload));
  return c;
}

async function assertRefused(c: RawClient, what: string): Promise<void> {
  assertEquals(await c.ended(), { code: 4012, reason: "auth_failed" }, what);
  assertEquals(c.received.length, 1, `${what}: nothing after message 2`);
}

const signed = (k: SigningKeyPair, bytes: Uint8Array) => sign(k, bytes);

Deno.test("forged login signatures are refused; the honest one logs in", async () => {
  const r = await startTestRelay();
  try {
    const victim = (await daemonKeys()).identity;
    const attacker = (await daemonKeys()).identity;

    // Control: the builder with an honest signature logs in (WELCOME record arrives).
    let oldH = new Uint8Array();
    const ok = await login(r, async (h) => {
      oldH = h.slice();
      return concat(victim.publicKey, await signed(victim, loginSignedBytes(h)));
    });
    assertOk((await ok.next()).length > 16, "a WELCOME record");
    await ok.close();
    assertEquals(r.counter("logins_total"), 1);

    const cases: [string, (h: Uint8Array) => Promise<Uint8Array>][] = [
      [
        "signed by another key",
        async (h) => concat(victim.publicKey, await signed(attacker, loginSignedBytes(h))),
      ],
      [
        "malleated S + L",
        async (h) => concat(victim.publicKey, malleate(await signed(victim, loginSignedBytes(h)))),
      ],
      [
        "signature of an earlier session's hash",
        async () => concat(victim.publicKey, await signed(victim, loginSignedBytes(oldH))),
      ],
      [
        "signature without the domain label",
        async (h) => concat(victim.publicKey, await signed(victim, h)),
      ],
      [
        "signature truncated to 63 bytes",
        async (h) =>
          concat(victim.publicKey, (await signed(victim, loginSignedBytes(h))).subarray(0, 63)),
      ],
      [
        "signature with a trailing byte",
        async (h) =>
          concat(victim.publicKey, await signed(victim, loginSignedBytes(h)), Uint8Array.of(0)),
      ],
      ["all-zero signature", () => Promise.resolve(concat(victim.publicKey, new Uint8Array(64)))],
    ];
    for (const [what, payload] of cases) await assertRefused(await login(r, payload), what);
    await settled(r);
    assertEquals(r.counter("logins_total"), 1, "no forged login");
    assertEquals(r.counter("handshakes_failed_total"), cases.length);
  } finally {
    await r.close();
  }
});

Deno.test("a malleated signature fails strict verification while the original passes", async () => {
  const k = (await daemonKeys()).identity;
  const msg = loginSignedBytes(crypto.getRandomValues(new Uint8Array(32)));
  const sig = await sign(k, msg);
  assertOk(verify(k.publicKey, msg, sig), "the original verifies");
  const bad = malleate(sig);
  assertOk(leToBig(bad.subarray(32)) % L === leToBig(sig.subarray(32)), "same S mod L");
  assertEquals(verify(k.publicKey, msg, bad), false);
});

Deno.test("the universal signature for the small-order identity key is refused", async () => {
  const identityPoint = bigToLe(1n); // y = 1: the neutral element, of order 1
  const universal = concat(bigToLe(1n), new Uint8Array(32)); // R = neutral, S = 0
  const anyMsg = loginSignedBytes(new Uint8Array(32).fill(7));
  // A cofactored ZIP-215 verifier accepts it for every message: it proves nothing.
  assertOk(ed25519.verify(universal, anyMsg, identityPoint, { zip215: true }));
  assertEquals(verify(identityPoint, anyMsg, universal), false);

  const r = await startTestRelay();
  try {
    const c = await login(r, () => concat(identityPoint, universal));
    await assertRefused(c, "universal signature");
    await settled(r);
    assertEquals(r.counter("logins_total"), 0);
    assertEquals(await r.scrape("registry_ids"), 0, "the small-order key's id was not registered");
  } finally {
    await r.close();
  }
});
