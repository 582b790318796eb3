import { assertEquals, assertOk, assertThrows } from "../_assert.ts";
import { concat, fromHex, utf8 } from "../../protocol/bytes.ts";
import { ID_LABEL } from "../../protocol/constants.ts";
import { randomSecret, signingKeyFromSeed } from "../../protocol/_crypto.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import {
  clientIdFromPublicKey,
  formatId,
  idMatchesKey,
  idProblem,
  isIdText,
  parseId,
} from "../../protocol/identity.ts";

/** Bytes as a string of 0/1 characters, most significant bit first. */
function bits(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(2).padStart(8, "0")).join("");
}

/** SHA-256 through WebCrypto, independent of the noble hash the code uses. */
async function webSha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data as BufferSource));
}

async function someKeys(): Promise<Uint8Array[]> {
  const keys: Uint8Array[] = [
    new Uint8Array(32),
    new Uint8Array(32).fill(0xff),
    Uint8Array.from({ length: 32 }, (_, i) => i),
  ];
  for (let i = 0; i < 20; i++) keys.push((await signingKeyFromSeed(randomSecret())).publicKey);
  return keys;
}

Deno.test("identity: the id is a version-8, variant-10 UUID", async () => {
  for (const pk of await someKeys()) {
    const id = clientIdFromPublicKey(pk);
    assertEquals(id.length, 16);
    assertEquals(id[6]! >> 4, 8, "version nibble");
    assertEquals(id[8]! >> 6, 0b10, "variant bits");
    const text = formatId(id);
    assertEquals(text[14], "8");
    assertOk("89ab".includes(text[19]!), text);
  }
});

Deno.test("identity: the 122 free bits are the leading 122 bits of SHA-256(label ‖ key)", async () => {
  for (const pk of await someKeys()) {
    const h = bits(await webSha256(concat(utf8.encode("schied/1/id"), pk)));
    const u = bits(clientIdFromPublicKey(pk));
    // RFC 9562 §5.8: custom_a (48) ‖ ver (4) ‖ custom_b (12) ‖ var (2) ‖ custom_c (62).
    assertEquals(u.slice(48, 52), "1000");
    assertEquals(u.slice(64, 66), "10");
    const free = u.slice(0, 48) + u.slice(52, 64) + u.slice(66);
    assertEquals(free.length, 122);
    assertEquals(free, h.slice(0, 122));
  }
  assertEquals(ID_LABEL, "schied/1/id");
});

Deno.test("identity: known answers (computed independently in Python)", async () => {
  const counting = Uint8Array.from({ length: 32 }, (_, i) => i);
  assertEquals(formatId(clientIdFromPublicKey(counting)), "0f678bf7-6db0-8fc7-a022-328119dd2e24");
  // RFC 8032 test 1 key.
  const seed = fromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  const pk = (await signingKeyFromSeed(seed)).publicKey;
  assertEquals(formatId(clientIdFromPublicKey(pk)), "4c5abbd7-1eb2-8104-99e0-eb9b765416cf");
});

Deno.test("identity: a key of the wrong length has no id", () => {
  for (const n of [0, 31, 33, 64]) {
    const e = assertThrows(() => clientIdFromPublicKey(new Uint8Array(n)));
    assertOk(e instanceof ProtocolError && e.message.includes("32 bytes"), e.message);
  }
});

Deno.test("identity: format and parse round-trip, either case in, lowercase out", async () => {
  for (const pk of await someKeys()) {
    const id = clientIdFromPublicKey(pk);
    const text = formatId(id);
    assertOk(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(text));
    assertEquals(parseId(text), id);
    assertEquals(parseId(text.toUpperCase()), id);
    assertOk(isIdText(text) && isIdText(text.toUpperCase()));
  }
  assertEquals(formatId(new Uint8Array(16)), "00000000-0000-0000-0000-000000000000");
  assertThrows(() => formatId(new Uint8Array(15)), (e) => e.message.includes("got 15"));
});

Deno.test("identity: parseId rejects everything that is not a version-8 UUID", () => {
  const bad = [
    "0b3e51c2-6f1d-4a4e-9c1b-2d3e4f5a6b7c", // version 4
    "0b3e51c2-6f1d-7a4e-9c1b-2d3e4f5a6b7c", // version 7
    "0b3e51c2-6f1d-8a4e-7c1b-2d3e4f5a6b7c", // variant 0xxx (NCS)
    "0b3e51c2-6f1d-8a4e-cc1b-2d3e4f5a6b7c", // variant 110x (Microsoft)
    "0b3e51c2-6f1d-8a4e-fc1b-2d3e4f5a6b7c", // variant 111x (reserved)
    "0b3e51c26f1d8a4e9c1b2d3e4f5a6b7c", // no hyphens
    "{0b3e51c2-6f1d-8a4e-9c1b-2d3e4f5a6b7c}",
    "urn:uuid:0b3e51c2-6f1d-8a4e-9c1b-2d3e4f5a6b7c",
    " 0b3e51c2-6f1d-8a4e-9c1b-2d3e4f5a6b7c",
    "0b3e51c2-6f1d-8a4e-9c1b-2d3e4f5a6b7c0",
    "0b3e51c2-6f1d-8a4e-9c1b-2d3e4f5a6b7g",
    "",
    "hello",
  ];
  for (const t of bad) {
    const e = assertThrows(() => parseId(t), undefined, t);
    assertOk(
      e instanceof TypeError && e.message.includes("a schied id is a version-8 UUID derived from"),
      e.message,
    );
    assertEquals(isIdText(t), false, t);
  }
  assertEquals(parseId("0b3e51c2-6f1d-8a4e-9c1b-2d3e4f5a6b7c").length, 16);
  // Every variant-10 nibble is accepted.
  for (const v of "89abAB") parseId(`0b3e51c2-6f1d-8a4e-${v}c1b-2d3e4f5a6b7c`);
});

Deno.test("identity: idMatchesKey holds only for the key's own id", async () => {
  const [a, b] = [
    await signingKeyFromSeed(randomSecret()),
    await signingKeyFromSeed(randomSecret()),
  ];
  const idA = clientIdFromPublicKey(a.publicKey);
  assertOk(idMatchesKey(idA, a.publicKey));
  assertEquals(idMatchesKey(idA, b.publicKey), false);
  for (let bit = 0; bit < 128; bit += 7) {
    const flipped = idA.slice();
    flipped[bit >> 3]! ^= 0x80 >> (bit & 7);
    assertEquals(idMatchesKey(flipped, a.publicKey), false, `bit ${bit}`);
  }
  const key = a.publicKey.slice();
  key[31]! ^= 1;
  assertEquals(idMatchesKey(idA, key), false);
  assertEquals(idMatchesKey(idA.subarray(0, 15), a.publicKey), false);
  assertEquals(idMatchesKey(idA, a.publicKey.subarray(0, 31)), false, "never throws");
});

Deno.test("identity: idProblem says what an id is and what the text is instead", () => {
  const table: [string, string][] = [
    ["0b3e51c2-6f1d-4a4e-9c1b-2d3e4f5a6b7c", "it is a version-4 UUID"],
    ["0B3E51C2-6F1D-7A4E-9C1B-2D3E4F5A6B7C", "it is a version-7 UUID"],
    ["0b3e51c2-6f1d-8a4e-1c1b-2d3e4f5a6b7c", "its variant bits are not RFC 9562's"],
    ["frank", "it is not a UUID"],
  ];
  for (const [text, what] of table) {
    const m = idProblem(text);
    assertOk(m.includes("a schied id is a version-8 UUID derived from its owner's key"), m);
    assertOk(m.endsWith(what), `${text}: ${m}`);
  }
});
