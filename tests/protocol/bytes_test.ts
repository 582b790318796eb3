import { assertEquals, assertOk, assertThrows } from "../_assert.ts";
import {
  concat,
  constantTimeEqual,
  fromBase64Url,
  fromHex,
  toBase64Url,
  toHex,
  utf8,
  utf8Strict,
} from "../../protocol/bytes.ts";

const ascii = (s: string) => utf8.encode(s);

Deno.test("bytes: base64url matches RFC 4648 §10 (unpadded, URL alphabet)", () => {
  const table: [string, string][] = [
    ["", ""],
    ["f", "Zg"],
    ["fo", "Zm8"],
    ["foo", "Zm9v"],
    ["foob", "Zm9vYg"],
    ["fooba", "Zm9vYmE"],
    ["foobar", "Zm9vYmFy"],
  ];
  for (const [plain, text] of table) {
    assertEquals(toBase64Url(ascii(plain)), text);
    assertEquals(fromBase64Url(text), ascii(plain));
  }
  assertEquals(toBase64Url(Uint8Array.of(0xfb, 0xff)), "-_8");
  assertEquals(fromBase64Url("-_8"), Uint8Array.of(0xfb, 0xff));
  assertEquals(toBase64Url(Uint8Array.of(255)), "_w");
});

Deno.test("bytes: base64url round-trips every length, including past one chunk", () => {
  for (const n of [...Array.from({ length: 70 }, (_, i) => i), 0x8000 - 1, 0x8000, 100_001]) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, i + 65536));
    const t = toBase64Url(b);
    assertOk(/^[A-Za-z0-9_-]*$/.test(t), "alphabet");
    assertEquals(t.length, Math.ceil((n * 4) / 3), `length of ${n}`);
    assertEquals(fromBase64Url(t), b);
  }
});

Deno.test("bytes: base64url rejects other alphabets, padding, bad lengths and stray bits", () => {
  const invalid = ["Zg==", "Zm8=", "+w", "/w", "Zm 9v", "Zm9v\n", "Z", "Zm9vY", "é"];
  for (const t of invalid) {
    assertThrows(
      () => fromBase64Url(t),
      (e) => e instanceof TypeError && e.message.includes("invalid text of length"),
      JSON.stringify(t),
    );
  }
  // "Zh" and "Zm9" decode to the same bytes as "Zg" and "Zm8" with non-zero unused bits.
  for (const t of ["Zh", "Zv", "Zm9", "Zm-", "_x", "AB"]) {
    assertThrows(
      () => fromBase64Url(t),
      (e) => e instanceof TypeError && e.message.includes("non-canonical"),
      t,
    );
  }
});

Deno.test("bytes: hex encodes lowercase, decodes either case, rejects bad text", () => {
  assertEquals(toHex(Uint8Array.of(0, 1, 0xab, 0xff)), "0001abff");
  assertEquals(fromHex("0001ABff"), Uint8Array.of(0, 1, 0xab, 0xff));
  assertEquals(fromHex(""), new Uint8Array());
  const b = crypto.getRandomValues(new Uint8Array(64));
  assertEquals(fromHex(toHex(b)), b);
  for (const t of ["0", "abc", "zz", "0x00", "+1", " 00", "0g"]) {
    assertThrows(
      () => fromHex(t),
      (e) => e instanceof TypeError && e.message.startsWith("Cannot decode hex"),
      t,
    );
  }
});

Deno.test("bytes: constantTimeEqual compares content and length", () => {
  const a = Uint8Array.of(1, 2, 3);
  assertOk(constantTimeEqual(a, Uint8Array.of(1, 2, 3)));
  assertOk(constantTimeEqual(new Uint8Array(), new Uint8Array()));
  assertEquals(constantTimeEqual(a, Uint8Array.of(1, 2, 4)), false);
  assertEquals(constantTimeEqual(a, Uint8Array.of(0, 2, 3)), false);
  assertEquals(constantTimeEqual(a, Uint8Array.of(1, 2)), false);
  assertEquals(constantTimeEqual(a, Uint8Array.of(1, 2, 3, 0)), false);
  const big = crypto.getRandomValues(new Uint8Array(1000));
  const other = big.slice();
  assertOk(constantTimeEqual(big, other));
  other[999]! ^= 0x80;
  assertEquals(constantTimeEqual(big, other), false);
});

Deno.test("bytes: concat joins in order into a new array", () => {
  const a = Uint8Array.of(1);
  const out = concat(a, new Uint8Array(), Uint8Array.of(2, 3));
  assertEquals(out, Uint8Array.of(1, 2, 3));
  out[0] = 9;
  assertEquals(a[0], 1, "a copy");
  assertEquals(concat(), new Uint8Array());
});

Deno.test("bytes: the strict UTF-8 decoder refuses malformed text", () => {
  assertEquals(utf8Strict.decode(utf8.encode("über ✓ 😀")), "über ✓ 😀");
  for (const bad of [[0xff], [0xc3], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xc0, 0xaf]]) {
    assertThrows(() => utf8Strict.decode(Uint8Array.from(bad)), undefined, bad.join(","));
  }
});
