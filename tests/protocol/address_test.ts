import { assertEquals, assertOk, assertThrows } from "../_assert.ts";
import { formatRelayAddress, parseRelayAddress } from "../../protocol/address.ts";
import { toBase64Url } from "../../protocol/bytes.ts";
import { generateDh } from "../../protocol/_crypto.ts";

const key = (await generateDh()).publicKey;
const k64 = toBase64Url(key);

/** p = 2^255 - 19 as 32 little-endian bytes, plus `add`. */
function pPlus(add: number): Uint8Array {
  const out = new Uint8Array(32).fill(0xff);
  out[0] = 0xed + add;
  out[31] = 0x7f;
  return out;
}

Deno.test("address: format and parse round-trip for ws and wss", () => {
  for (const url of ["ws://127.0.0.1:8765/", "wss://relay.example.org:8443/", "ws://[::1]:1/"]) {
    const text = formatRelayAddress(url, key);
    assertEquals(text, `${url}#${k64}`);
    assertEquals(text.length, url.length + 1 + 43, "a key is 43 base64url characters");
    const back = parseRelayAddress(text);
    assertEquals(back.url, url, "the URL to dial has no fragment");
    assertEquals(back.key, key);
  }
});

Deno.test("address: the URL is normalized by the WHATWG parser", () => {
  assertEquals(parseRelayAddress(`WSS://Relay.Example:443/#${k64}`).url, "wss://relay.example/");
  assertEquals(parseRelayAddress(`ws://h:80#${k64}`).url, "ws://h/");
});

Deno.test("address: every error says what is wrong", () => {
  const cases: [string, string][] = [
    ["relay.example:8765", "not ws: or wss:"],
    ["no url at all", "not a URL"],
    ["", "not a URL"],
    [`http://127.0.0.1:8765/#${k64}`, "scheme http: is not ws: or wss:"],
    [`https://127.0.0.1:8765/#${k64}`, "scheme https: is not ws: or wss:"],
    ["ws://127.0.0.1:8765/", "no #key fragment"],
    ["ws://127.0.0.1:8765/#", "no #key fragment"],
    ["ws://127.0.0.1:8765/#not*base64", "the key is not base64url"],
    [`ws://127.0.0.1:8765/#${k64}=`, "the key is not base64url"],
    [`ws://127.0.0.1:8765/#${k64.slice(0, 42)}B`, "the key is not base64url"], // stray bits
    [`ws://127.0.0.1:8765/#${toBase64Url(key.subarray(0, 31))}`, "not a 32-byte X25519 key"],
    [`ws://127.0.0.1:8765/#${toBase64Url(new Uint8Array(33))}`, "not a 32-byte X25519 key"],
    [`ws://127.0.0.1:8765/#${toBase64Url(pPlus(0))}`, "not a 32-byte X25519 key"], // = p
    [`ws://127.0.0.1:8765/#${toBase64Url(pPlus(1))}`, "not a 32-byte X25519 key"], // p + 1
    [`ws://127.0.0.1:8765/#${toBase64Url(new Uint8Array(32).fill(0xff))}`, "not a 32-byte"],
  ];
  for (const [text, msg] of cases) {
    const e = assertThrows(() => parseRelayAddress(text), undefined, text);
    assertOk(e instanceof TypeError, `${text}: ${e}`);
    assertOk(e.message.startsWith("Cannot parse relay address"), e.message);
    assertOk(e.message.includes(msg), `${text}: "${e.message}" lacks "${msg}"`);
  }
});

Deno.test("address: a key whose base64url has stray low bits is refused", () => {
  // 32 bytes = 43 characters whose last one carries 2 unused bits; set the lowest.
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const stray = alphabet[alphabet.indexOf(k64[42]!) | 1]!;
  assertOk(stray !== k64[42], "a canonical last character has its unused bits clear");
  assertThrows(
    () => parseRelayAddress(`ws://h:1/#${k64.slice(0, 42)}${stray}`),
    (e) => e.message.includes("not base64url"),
  );
  // p - 2, the largest canonical key that is not of small order, is accepted; p - 1 is refused.
  const pMinus2 = pPlus(0);
  pMinus2[0] = 0xeb;
  assertEquals(parseRelayAddress(`ws://h:1/#${toBase64Url(pMinus2)}`).key, pMinus2);
  const pMinus1 = pPlus(0);
  pMinus1[0] = 0xec;
  assertThrows(() => parseRelayAddress(`ws://h:1/#${toBase64Url(pMinus1)}`));
});
