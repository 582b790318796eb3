import { assertEquals, assertOk, assertRejects } from "../_assert.ts";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { fromHex, toHex } from "../../protocol/bytes.ts";
import {
  dh,
  dhFromSecret,
  ED25519_SMALL_ORDER,
  generateDh,
  isCanonicalX25519,
  randomSecret,
  sha256,
  sign,
  signingKeyFromSeed,
  strictEd25519Input,
  verify,
  verifyStrict,
  x25519PublicKey,
} from "../../protocol/_crypto.ts";
import { ProtocolError } from "../../protocol/errors.ts";

const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

/** A number as 32 little-endian bytes. */
function le(v: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

function fromLe(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

const isAuthFailed = (e: Error) => e instanceof ProtocolError && e.code === "auth_failed";

Deno.test("crypto: isCanonicalX25519 accepts 0..p-1 and rejects p and above", () => {
  const table: [string, bigint, boolean][] = [
    ["0", 0n, true],
    ["1", 1n, true],
    ["9 (base point)", 9n, true],
    ["2^254", 2n ** 254n, true],
    ["p - 2", P - 2n, true],
    ["p - 1", P - 1n, true],
    ["p", P, false],
    ["p + 1", P + 1n, false],
    ["p + 18 = 2^255 - 1", 2n ** 255n - 1n, false],
    ["2^255 (top bit set)", 2n ** 255n, false],
    ["9 + 2^255", 9n + 2n ** 255n, false],
    ["2^256 - 1", 2n ** 256n - 1n, false],
  ];
  for (const [name, v, ok] of table) assertEquals(isCanonicalX25519(le(v)), ok, name);
  assertEquals(isCanonicalX25519(new Uint8Array(31)), false);
  assertEquals(isCanonicalX25519(new Uint8Array(33)), false);
  for (let i = 0; i < 100; i++) {
    const u = crypto.getRandomValues(new Uint8Array(32));
    assertEquals(isCanonicalX25519(u), fromLe(u) < P, toHex(u));
  }
});

// The u-coordinates of the points of small order on Curve25519 (as in libsodium's blocklist).
const LOW_ORDER: [string, bigint][] = [
  ["0 (order 4)", 0n],
  ["1 (order 1)", 1n],
  ["order 8 (a)", 325606250916557431795983626356110631294008115727848805560023387167927233504n],
  ["order 8 (b)", 39382357235489614581723060781553021112529911719440698176882885853963445705823n],
  ["p - 1 (order 2)", P - 1n],
];

Deno.test("crypto: the low-order list is right (noble refuses each point too)", () => {
  for (const [name, u] of LOW_ORDER) {
    let threw = false;
    try {
      x25519.getSharedSecret(randomSecret(), le(u));
    } catch {
      threw = true;
    }
    assertOk(threw, name);
  }
});

Deno.test("crypto: dh refuses every low-order point, in every encoding", async () => {
  const kp = await generateDh();
  for (const [name, u] of LOW_ORDER) {
    const forms = [u, u + 2n ** 255n]; // canonical, and with the top bit set
    if (u + P < 2n ** 255n) forms.push(u + P, u + P + 2n ** 255n); // non-canonical
    for (const f of forms) {
      await assertRejects(() => dh(kp, le(f)), isAuthFailed, `${name} as ${f}`);
    }
  }
  await assertRejects(() => dh(kp, new Uint8Array(31)), isAuthFailed, "short key");
  await assertRejects(() => dh(kp, new Uint8Array(32).fill(0xff)), isAuthFailed, "2^256-1");
});

Deno.test("crypto: dh agrees with RFC 7748 §6.1 and with noble", async () => {
  const a = fromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const b = fromHex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  const ka = await dhFromSecret(a);
  const kb = await dhFromSecret(b);
  assertEquals(
    toHex(ka.publicKey),
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
  );
  assertEquals(
    toHex(kb.publicKey),
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
  );
  assertEquals(x25519PublicKey(a), ka.publicKey);
  const s1 = await dh(ka, kb.publicKey);
  assertEquals(s1, await dh(kb, ka.publicKey));
  assertEquals(toHex(s1), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  assertEquals(s1, x25519.getSharedSecret(a, kb.publicKey));
  for (let i = 0; i < 5; i++) {
    const [x, y] = [await generateDh(), await generateDh()];
    assertEquals(await dh(x, y.publicKey), await dh(y, x.publicKey));
  }
});

Deno.test("crypto: Ed25519 signs as RFC 8032 §7.1 test 2 and verifies", async () => {
  const key = await signingKeyFromSeed(
    fromHex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"),
  );
  assertEquals(
    toHex(key.publicKey),
    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
  );
  const msg = Uint8Array.of(0x72);
  const sig = await sign(key, msg);
  assertEquals(
    toHex(sig),
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da" +
      "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  );
  assertOk(verify(key.publicKey, msg, sig));
});

/** Both verifiers; every strictness test runs against each. */
const VERIFIERS: [string, (k: Uint8Array, m: Uint8Array, s: Uint8Array) => Promise<boolean>][] = [
  ["verify (noble)", (k, m, s) => Promise.resolve(verify(k, m, s))],
  ["verifyStrict (checks + node:crypto)", (k, m, s) => Promise.resolve(verifyStrict(k, m, s))],
];

for (const [name, v] of VERIFIERS) {
  Deno.test(`crypto: ${name} refuses a wrong key, message or signature, never throwing`, async () => {
    const key = await signingKeyFromSeed(randomSecret());
    const other = await signingKeyFromSeed(randomSecret());
    const msg = new TextEncoder().encode("schied/1/link-auth and a hash");
    const sig = await sign(key, msg);
    assertOk(await v(key.publicKey, msg, sig));
    assertEquals(await v(other.publicKey, msg, sig), false, "wrong key");
    assertEquals(await v(key.publicKey, msg.subarray(1), sig), false, "wrong message");
    for (const i of [0, 31, 32, 63]) {
      const bad = sig.slice();
      bad[i]! ^= 1;
      assertEquals(await v(key.publicKey, msg, bad), false, `flipped byte ${i}`);
    }
    assertEquals(await v(key.publicKey, msg, sig.subarray(0, 63)), false, "short signature");
    assertEquals(await v(key.publicKey.subarray(0, 31), msg, sig), false, "short key");
    assertEquals(await v(new Uint8Array(32).fill(0xff), msg, sig), false, "non-canonical key");
    assertEquals(await v(new Uint8Array(32), msg, new Uint8Array(64)), false, "all zero");
  });

  Deno.test(`crypto: ${name} refuses the S + L malleation of a valid signature`, async () => {
    for (let i = 0; i < 8; i++) {
      const key = await signingKeyFromSeed(randomSecret());
      const msg = crypto.getRandomValues(new Uint8Array(40));
      const sig = await sign(key, msg);
      const s = fromLe(sig.subarray(32));
      assertOk(s < L, "a fresh signature has S < L");
      const mal = sig.slice();
      mal.set(le(s + L), 32); // S + L < 2^254 always fits in 32 bytes
      assertOk(await v(key.publicKey, msg, sig));
      assertEquals(await v(key.publicKey, msg, mal), false, "S + L");
    }
  });

  Deno.test(`crypto: ${name} refuses every small-order key, even with a universal signature`, async () => {
    const msg = crypto.getRandomValues(new Uint8Array(40));
    for (const hex of ED25519_SMALL_ORDER) {
      // R = the key itself and S = 0 satisfies the cofactored equation for any message.
      const universal = new Uint8Array(64);
      universal.set(fromHex(hex), 0);
      assertEquals(await v(fromHex(hex), msg, universal), false, hex);
      const zeroR = new Uint8Array(64);
      zeroR[0] = 1; // R = identity, S = 0
      assertEquals(await v(fromHex(hex), msg, zeroR), false, `${hex}, R = identity`);
    }
  });
}

Deno.test("crypto: the Ed25519 small-order list is the torsion points and their -0 forms", () => {
  for (const hex of ED25519_SMALL_ORDER) {
    const bytes = fromHex(hex);
    const p = ed25519.Point.fromBytes(bytes, true); // ZIP 215 decoding accepts -0 forms too
    assertOk(p.isSmallOrder(), `${hex} is of small order`);
  }
  assertEquals(new Set(ED25519_SMALL_ORDER).size, 10);
});

Deno.test("crypto: strict Ed25519 input wants y < p for A and R, no -0, and S < L", async () => {
  const key = await signingKeyFromSeed(randomSecret());
  const sig = await sign(key, Uint8Array.of(1));
  assertOk(strictEd25519Input(key.publicKey, sig));
  // y + p for the few y below 19 (p + y < 2^255): non-canonical encodings of y.
  for (let y = 0n; y < 19n; y++) {
    const nonCanonical = le(P + y);
    assertEquals(strictEd25519Input(nonCanonical, sig), false, `A = ${y} + p`);
    const r = sig.slice();
    r.set(nonCanonical, 0);
    assertEquals(strictEd25519Input(key.publicKey, r), false, `R = ${y} + p`);
  }
  const s = sig.slice();
  s.set(le(L), 32);
  assertEquals(strictEd25519Input(key.publicKey, s), false, "S = L");
  s.set(le(L - 1n), 32);
  assertOk(strictEd25519Input(key.publicKey, s), "S = L - 1 passes the range check");
});

Deno.test("crypto: verify and verifyStrict agree on valid and mutated signatures", async () => {
  for (let i = 0; i < 40; i++) {
    const key = await signingKeyFromSeed(randomSecret());
    const msg = crypto.getRandomValues(new Uint8Array(i));
    const sig = await sign(key, msg);
    const cases = [sig, sig.slice()];
    cases[1]![i % 64]! ^= 1 << (i % 8);
    for (const c of cases) {
      assertEquals(verifyStrict(key.publicKey, msg, c), verify(key.publicKey, msg, c));
    }
  }
});

Deno.test("crypto: sha256 matches WebCrypto", async () => {
  for (const n of [0, 1, 55, 56, 64, 1000]) {
    const data = crypto.getRandomValues(new Uint8Array(n));
    const web = new Uint8Array(await crypto.subtle.digest("SHA-256", data as BufferSource));
    assertEquals(sha256(data), web, `${n} bytes`);
  }
  assertEquals(
    toHex(sha256(new Uint8Array())),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
});
