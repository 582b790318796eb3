import { createPublicKey, diffieHellman } from "node:crypto";
/**
 * Attack: low-order and non-canonical X25519 points, as the ephemeral of message 1 or 2 and as
 * the pinned relay key. A low-order point makes a DH result predictable (all zero); a
 * non-canonical encoding (top bit set, or a value ≥ p) is silently reduced by RFC 7748 code,
 * so a lax peer computes the same secret as for the canonical key while hashing other bytes.
 *
 * To keep the tests honest, each forged message carries the MAC a lax implementation (one that
 * masks, reduces and accepts an all-zero secret, as WebCrypto does for non-canonical input)
 * would accept, and a control shows the same builder succeeds with a canonical point.
 */
import { assertEquals, assertOk, assertRejects, assertThrows } from "../_assert.ts";
import { LinkClient } from "../../daemon/link_client.ts";
import { formatRelayAddress, parseRelayAddress } from "../../protocol/address.ts";
import { concat } from "../../protocol/bytes.ts";
import { LINK_NOISE_NAME, PROTOCOL_VERSION } from "../../protocol/constants.ts";
import {
  dh,
  dhFromSecret,
  type DhKeyPair,
  isCanonicalX25519,
  randomSecret,
} from "../../protocol/_crypto.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { LinkInitiator, linkPrologue, LinkResponder } from "../../protocol/link_handshake.ts";
import { SymmetricState } from "../../protocol/noise.ts";
import { daemonKeys, RawClient, settled, startTestRelay } from "./_helpers.ts";

const P = 2n ** 255n - 19n;
const O8A = 325606250916557431795983626356110631294008115727848805560023387167927233504n;
const O8B = 39382357235489614581723060781553021112529911719440698176882885853963445705823n;

function le(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** Canonical (< p) points of small order: 0, 1, the two points of order 8, -1 (order 2). */
const LOW_ORDER: [string, bigint][] = [
  ["0", 0n],
  ["1", 1n],
  ["order-8 a", O8A],
  ["order-8 b", O8B],
  ["p-1", P - 1n],
];
/**
 * Non-canonical encodings (values ≥ p, some with the top bit set) of those points, and of
 * 18 (2^255-1) and 37 (2^256-1).
 */
const NON_CANONICAL: [string, bigint][] = [
  ["p", P],
  ["p+1", P + 1n],
  ["order-8 a + p", O8A + P],
  ["order-8 b + p", O8B + P],
  ["2p-1", 2n * P - 1n],
  ["2p", 2n * P],
  ["2p+1", 2n * P + 1n],
  ["2^255-1", 2n ** 255n - 1n],
  ["2^256-1", 2n ** 256n - 1n],
];
const ZERO = new Uint8Array(32);
const BASE = le(9n);
const BASE_PLUS_P = le(9n + P); // fits in 255 bits: a non-canonical base point, top bit clear

/** X25519 as RFC 7748 code without schied's checks computes it (masks, reduces mod p). */
async function laxDh(kp: DhKeyPair, pub: Uint8Array): Promise<Uint8Array> {
  const spki = Uint8Array.of(0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0);
  const k = createPublicKey({ key: concat(spki, pub), format: "der", type: "spki" });
  return await Promise.resolve(
    new Uint8Array(diffieHellman({ privateKey: kp.privateKey, publicKey: k })),
  );
}

function withTopBit(pub: Uint8Array): Uint8Array {
  const out = pub.slice();
  out[31] = out[31]! | 0x80;
  return out;
}

const relay = await dhFromSecret(randomSecret());
const isAuthFailed = (e: Error) => e instanceof ProtocolError && e.code === "auth_failed";

type Case = [name: string, e: Uint8Array, laxSecret: Uint8Array];

/**
 * Forged ephemerals, each with the DH result a lax peer whose other key is `peerPub` would get:
 * zero for the small-order ones, the canonical key's secret for the re-encoded ones (for 9, the
 * base point, that secret is the peer's own public key).
 */
async function forgeries(peerPub: Uint8Array): Promise<{ bad: Case[]; good: Case[] }> {
  const real = await dhFromSecret(randomSecret());
  const realSecret = await laxDh(real, peerPub);
  return {
    bad: [
      ...[...LOW_ORDER, ...NON_CANONICAL].map(([n, v]): Case => [n, le(v), ZERO]),
      ["a real key with the top bit set", withTopBit(real.publicKey), realSecret],
      ["9 + p, a non-canonical base point", BASE_PLUS_P, peerPub],
    ],
    good: [["the real key", real.publicKey, realSecret], ["9, the base point", BASE, peerPub]],
  };
}

/** Message 1 carrying ephemeral `e`, with the MAC of a handshake whose es came out as `es`. */
async function forgedMsg1(relayPub: Uint8Array, e: Uint8Array, es: Uint8Array) {
  const ss = new SymmetricState(LINK_NOISE_NAME);
  ss.mixHash(linkPrologue([PROTOCOL_VERSION]));
  ss.mixHash(relayPub);
  ss.mixHash(e);
  await ss.mixKey(es);
  return concat(Uint8Array.of(1, PROTOCOL_VERSION), e, await ss.encryptAndHash(new Uint8Array()));
}

/** The relay's answer to an honest `msg1`, but with ephemeral `e` and `ee` taken as given. */
async function forgedMsg2(msg1: Uint8Array, e: Uint8Array, ee: Uint8Array) {
  const ss = new SymmetricState(LINK_NOISE_NAME);
  ss.mixHash(linkPrologue([PROTOCOL_VERSION]));
  ss.mixHash(relay.publicKey);
  const ei = msg1.subarray(2, 34);
  ss.mixHash(ei);
  await ss.mixKey(await dh(relay, ei));
  await ss.decryptAndHash(msg1.subarray(34));
  ss.mixHash(e);
  await ss.mixKey(ee);
  return concat(e, await ss.encryptAndHash(Uint8Array.of(PROTOCOL_VERSION)));
}

Deno.test("isCanonicalX25519 and dh refuse every low-order and non-canonical point", async () => {
  const kp = await dhFromSecret(randomSecret());
  for (const [name, v] of LOW_ORDER) {
    assertOk(isCanonicalX25519(le(v)), `${name} is canonical`);
    await assertRejects(() => dh(kp, le(v)), isAuthFailed, name);
  }
  for (const [name, v] of NON_CANONICAL) {
    assertOk(!isCanonicalX25519(le(v)), `${name} is not canonical`);
    await assertRejects(() => dh(kp, le(v)), isAuthFailed, name);
  }
  // A lax X25519 takes these and derives the canonical key's secret: only the check refuses.
  for (const [bad, same] of [[BASE_PLUS_P, BASE], [withTopBit(relay.publicKey), relay.publicKey]]) {
    assertOk(!isCanonicalX25519(bad!));
    assertEquals(await laxDh(kp, bad!), await dh(kp, same!));
    await assertRejects(() => dh(kp, bad!), isAuthFailed);
  }
});

Deno.test("message 1 with a low-order or non-canonical ephemeral is refused", async () => {
  const { bad, good } = await forgeries(relay.publicKey);
  for (const [name, e, es] of good) {
    const msg2 = await new LinkResponder(relay).accept(await forgedMsg1(relay.publicKey, e, es));
    assertEquals(msg2.length, 49, `control: ${name} is accepted`);
  }
  for (const [name, e, es] of bad) {
    const msg1 = await forgedMsg1(relay.publicKey, e, es);
    await assertRejects(() => new LinkResponder(relay).accept(msg1), isAuthFailed, name);
  }
  assertEquals(bad.length, LOW_ORDER.length + NON_CANONICAL.length + 2);
});

Deno.test("message 2 with a low-order or non-canonical ephemeral is refused by the daemon", async () => {
  const keys = await daemonKeys();
  const count = (await forgeries(relay.publicKey)).bad.length;
  for (let i = 0; i < count + 2; i++) {
    // Offering version 1 only: the forged message 2 below is built for that prologue.
    const init = new LinkInitiator(relay.publicKey, keys.linkKey, keys.identity, [1]);
    const msg1 = await init.start();
    const { bad, good } = await forgeries(msg1.subarray(2, 34));
    const [name, e, ee] = i < count ? bad[i]! : good[i - count]!;
    const msg2 = await forgedMsg2(msg1, e, ee);
    if (i < count) await assertRejects(() => init.finish(msg2), isAuthFailed, name);
    else assertEquals((await init.finish(msg2)).msg3.length, 160, `control: ${name}`);
  }
});

Deno.test("pinned relay key: non-canonical and low-order are refused by the parser, and send nothing", async () => {
  const r = await startTestRelay();
  try {
    const nonCanonical = [
      ...NON_CANONICAL.map(([, v]) => le(v)),
      withTopBit(r.key),
      BASE_PLUS_P,
    ];
    for (const key of nonCanonical) {
      assertThrows(
        () => parseRelayAddress(formatRelayAddress(r.url, key)),
        (e) => e instanceof TypeError,
      );
    }
    const keys = await daemonKeys();
    for (const [name, v] of LOW_ORDER) {
      const address = formatRelayAddress(r.url, le(v));
      assertThrows(() => parseRelayAddress(address), (e) => e instanceof TypeError, name);
      // Defence in depth: given such a key directly, the handshake refuses before sending.
      await assertRejects(
        () => new LinkInitiator(le(v), keys.linkKey, keys.identity).start(),
        isAuthFailed,
      );
      await assertRejects(
        () => LinkClient.connect({ address: { url: r.url, key: le(v) }, ...keys }),
        isAuthFailed,
        name,
      );
    }
    await settled(r);
    assertEquals(r.tapped.length, 0, "no message reached the relay");
  } finally {
    await r.close();
  }
});

Deno.test("end to end: the relay closes 4012 on a bad ephemeral and answers a good one", async () => {
  const r = await startTestRelay();
  try {
    const { bad, good } = await forgeries(r.key);
    for (const [name, e, es] of [...good, ...bad]) {
      const c = await RawClient.open(r.url);
      c.send(await forgedMsg1(r.key, e, es));
      if (good.some(([g]) => g === name)) {
        assertEquals((await c.next()).length, 49, `control: ${name} gets message 2`);
        await c.close();
      } else {
        assertEquals(await c.ended(), { code: 4012, reason: "auth_failed" }, name);
        assertEquals(c.received.length, 0, `${name}: nothing sent back`);
      }
    }
    await settled(r);
    assertEquals(r.counter("handshakes_failed_total"), bad.length + good.length);
  } finally {
    await r.close();
  }
});
