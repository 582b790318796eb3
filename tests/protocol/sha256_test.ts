/**
 * protocol/_sha256.ts: SHA-256 and HMAC-SHA-256 on reused states give noble's outputs for any key
 * and message (property test, lengths across the block boundaries), RFC 4231's vectors, and
 * interleaved calls (keyed and one-off, long keys hashed inside) do not disturb one another.
 */
import fc from "fast-check";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { assertEquals } from "../_assert.ts";
import { hmacSha256, hmacSha256Into, hmacSha256Keyed, sha256 } from "../../protocol/_crypto.ts";

const hex = (b: Uint8Array) => b.toHex();
const bytes = (max: number) => fc.uint8Array({ minLength: 0, maxLength: max });

Deno.test("sha256: equal to noble's for any input", () => {
  fc.assert(
    fc.property(bytes(300), (m) => hex(sha256(m)) === hex(nobleSha256(m))),
    { numRuns: 500 },
  );
});

Deno.test("hmacSha256 and hmacSha256Keyed: equal to noble's hmac for any key and message", () => {
  fc.assert(
    fc.property(bytes(200), bytes(300), (k, m) => {
      const want = hex(hmac(nobleSha256, k, m));
      return hex(hmacSha256(k, m)) === want && hex(hmacSha256Keyed(k)(m)) === want;
    }),
    { numRuns: 500 },
  );
});

Deno.test("hmacSha256Into and the keyed MAC in parts: noble's hmac of the parts joined", () => {
  fc.assert(
    fc.property(
      bytes(100),
      fc.array(bytes(90), { maxLength: 4 }),
      fc.integer({ min: 0, max: 32 }),
      fc.integer({ min: 0, max: 5 }),
      (k, parts, len, at) => {
        const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        parts.reduce((o, p) => (joined.set(p, o), o + p.length), 0);
        const want = hmac(nobleSha256, k, joined);
        const out = new Uint8Array(at + len + 3).fill(0xaa);
        hmacSha256Into(k, parts, out, at, len);
        const around = [...out.subarray(0, at), ...out.subarray(at + len)];
        return hex(out.subarray(at, at + len)) === hex(want.subarray(0, len)) &&
          around.every((b) => b === 0xaa) && hex(hmacSha256Keyed(k)(...parts)) === hex(want);
      },
    ),
    { numRuns: 500 },
  );
  let threw = false;
  try {
    hmacSha256Into(new Uint8Array(1), [], new Uint8Array(40), 10, 32);
  } catch (e) {
    threw = e instanceof RangeError;
  }
  assertEquals(threw, true, "a tag that does not fit is refused, not cut");
});

Deno.test("hmacSha256: RFC 4231 test cases 1, 2 and 6 (a key longer than a block)", () => {
  const enc = new TextEncoder();
  const cases: [Uint8Array, Uint8Array, string][] = [
    [
      new Uint8Array(20).fill(0x0b),
      enc.encode("Hi There"),
      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ],
    [
      enc.encode("Jefe"),
      enc.encode("what do ya want for nothing?"),
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ],
    [
      new Uint8Array(131).fill(0xaa),
      enc.encode("Test Using Larger Than Block-Size Key - Hash Key First"),
      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ],
  ];
  for (const [k, m, want] of cases) {
    assertEquals(hex(hmacSha256(k, m)), want);
    assertEquals(hex(hmacSha256Keyed(k)(m)), want);
  }
});

Deno.test("hmacSha256Keyed: interleaved with other calls, each keyed function keeps its key", () => {
  const k1 = new Uint8Array(32).fill(1), k2 = new Uint8Array(100).fill(2);
  const f1 = hmacSha256Keyed(k1), f2 = hmacSha256Keyed(k2);
  for (let i = 0; i < 50; i++) {
    const m = new Uint8Array(i).fill(i);
    assertEquals(hex(f1(m)), hex(hmac(nobleSha256, k1, m)));
    assertEquals(hex(hmacSha256(k2, m)), hex(hmac(nobleSha256, k2, m)));
    assertEquals(hex(sha256(m)), hex(nobleSha256(m)));
    assertEquals(hex(f2(m)), hex(hmac(nobleSha256, k2, m)));
  }
});
