import { assertEquals, assertOk, assertRejects, assertThrows } from "../_assert.ts";
import { concat, utf8 } from "../../protocol/bytes.ts";
import {
  randomSecret,
  sign,
  signingKeyFromSeed,
  type SigningKeyPair,
} from "../../protocol/_crypto.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { clientIdFromPublicKey } from "../../protocol/identity.ts";
import {
  makeRotation,
  ROTATION_BODY_LEN,
  ROTATION_LABEL,
  ROTATION_LEN,
  ROTATION_NEW_SIG_LABEL,
  ROTATION_OLD_SIG_LABEL,
  ROTATION_VERSION,
  rotationBody,
  rotationSignedMessages,
  verifyRotation,
} from "../../protocol/rotation.ts";

const NOW = 1_790_000_000_123;

async function keys(): Promise<SigningKeyPair> {
  return await signingKeyFromSeed(randomSecret());
}

/** Asserts that `fn` is refused with a ProtocolError `key_mismatch` whose message has `what`. */
function refused(fn: () => unknown, what: string, msg?: string): void {
  assertThrows(
    fn,
    (e) => e instanceof ProtocolError && e.code === "key_mismatch" && e.message.includes(what),
    msg ?? what,
  );
}

/** Awaits a statement, then asserts that verifying it against `pinned` is refused with `what`. */
async function refusedAsync(
  statement: Promise<Uint8Array>,
  pinned: Uint8Array,
  what: string,
): Promise<void> {
  const bytes = await statement;
  refused(() => verifyRotation(bytes, pinned), what);
}

/** A statement built by hand: body from the two public keys, signatures by whoever is given. */
async function forgeAsync(
  oldKey: Uint8Array,
  newKey: Uint8Array,
  signOld: SigningKeyPair,
  signNew: SigningKeyPair,
  opts: { swapMessages?: boolean; body?: Uint8Array } = {},
): Promise<Uint8Array> {
  const body = opts.body ?? rotationBody(oldKey, newKey, NOW);
  const [mOld, mNew] = rotationSignedMessages(body);
  const sOld = await sign(signOld, opts.swapMessages ? mNew! : mOld!);
  const sNew = await sign(signNew, opts.swapMessages ? mOld! : mNew!);
  return concat(body, sOld, sNew);
}

Deno.test("rotation: a statement round-trips with every field", async () => {
  const a = await keys();
  const b = await keys();
  const bytes = await makeRotation(a, b, NOW);
  assertEquals(bytes.length, ROTATION_LEN);
  assertEquals(ROTATION_LEN, 250);
  assertEquals(ROTATION_BODY_LEN, 122);
  assertEquals(bytes.subarray(0, 17), utf8.encode(ROTATION_LABEL));
  assertEquals(bytes[17], ROTATION_VERSION);
  const r = verifyRotation(bytes, a.publicKey);
  assertEquals(r.oldId, clientIdFromPublicKey(a.publicKey));
  assertEquals(r.newId, clientIdFromPublicKey(b.publicKey));
  assertEquals(r.oldKey, a.publicKey);
  assertEquals(r.newKey, b.publicKey);
  assertEquals(r.createdMs, NOW);
  // Ed25519 is deterministic: the same inputs make the same statement.
  assertEquals(await makeRotation(a, b, NOW), bytes);
  // A statement inside a larger buffer (a subarray at an offset) verifies too.
  const padded = concat(new Uint8Array(3), bytes, new Uint8Array(5));
  assertEquals(verifyRotation(padded.subarray(3, 3 + ROTATION_LEN), a.publicKey), r);
  assertEquals(verifyRotation(await makeRotation(a, b, 0), a.publicKey).createdMs, 0);
  const max = Number.MAX_SAFE_INTEGER;
  assertEquals(verifyRotation(await makeRotation(a, b, max), a.publicKey).createdMs, max);
});

Deno.test("rotation: the labels are distinct and none is a prefix of another", () => {
  const labels = [ROTATION_LABEL, ROTATION_OLD_SIG_LABEL, ROTATION_NEW_SIG_LABEL, "schied/1/id"];
  for (const x of labels) {
    for (const y of labels) if (x !== y) assertOk(!y.startsWith(x), `${x} prefixes ${y}`);
  }
});

Deno.test("rotation: every single-byte change anywhere is refused", async () => {
  const a = await keys();
  const bytes = await makeRotation(a, await keys(), NOW);
  for (let i = 0; i < bytes.length; i++) {
    for (const mask of [0x01, 0x80, 0xff]) {
      const t = bytes.slice();
      t[i]! ^= mask;
      refused(() => verifyRotation(t, a.publicKey), "Rotation statement refused", `byte ${i}`);
    }
  }
});

Deno.test("rotation: truncated and extended statements are refused with the length error", async () => {
  const a = await keys();
  const bytes = await makeRotation(a, await keys(), NOW);
  for (const n of [0, 1, 17, 18, ROTATION_BODY_LEN, ROTATION_LEN - 64, ROTATION_LEN - 1]) {
    refused(() => verifyRotation(bytes.subarray(0, n), a.publicKey), `length ${n}, expected 250`);
  }
  for (const extra of [1, 2, 64, 1000]) {
    const t = concat(bytes, new Uint8Array(extra));
    refused(() => verifyRotation(t, a.publicKey), `length ${250 + extra}, expected 250`);
  }
  // Length comes first: a short statement with a wrong label still gets the length error.
  refused(() => verifyRotation(new Uint8Array(249), a.publicKey), "length 249");
});

Deno.test("rotation: the checks run in order (label, version, ids, pinned key, signatures)", async () => {
  const a = await keys();
  const b = await keys();
  const bytes = await makeRotation(a, b, NOW);
  const other = (await keys()).publicKey;
  const t = bytes.slice();
  t[0] = 0x53; // "S" for "s"
  refused(() => verifyRotation(t, other), "label");
  const v = bytes.slice();
  v[17] = 2;
  refused(() => verifyRotation(v, other), "version 2");
  v[17] = 0;
  refused(() => verifyRotation(v, other), "version 0");
  const oldId = bytes.slice();
  oldId[18]! ^= 1;
  refused(() => verifyRotation(oldId, other), "old id is not the hash");
  const newId = bytes.slice();
  newId[34]! ^= 1;
  refused(() => verifyRotation(newId, other), "new id is not the hash");
  const oldKey = bytes.slice();
  oldKey[50]! ^= 1;
  refused(() => verifyRotation(oldKey, a.publicKey), "old id is not the hash");
  const newKey = bytes.slice();
  newKey[82]! ^= 1;
  refused(() => verifyRotation(newKey, a.publicKey), "new id is not the hash");
  const time = bytes.slice();
  time[114]! ^= 1;
  refused(() => verifyRotation(time, other), "not the one pinned");
  refused(() => verifyRotation(time, a.publicKey), "old key's signature");
  const newSig = bytes.slice();
  newSig[ROTATION_LEN - 1]! ^= 1;
  refused(() => verifyRotation(newSig, a.publicKey), "new key's signature");
});

Deno.test("rotation: a wrong pinned key is refused", async () => {
  const a = await keys();
  const b = await keys();
  const bytes = await makeRotation(a, b, NOW);
  const wrong = [
    b.publicKey,
    (await keys()).publicKey,
    a.publicKey.subarray(0, 31),
    concat(a.publicKey, new Uint8Array(1)),
    new Uint8Array(0),
    new Uint8Array(32),
  ];
  for (const p of wrong) refused(() => verifyRotation(bytes, p), "not the one pinned");
});

Deno.test("rotation: a statement for another old id is refused", async () => {
  const a = await keys(); // the contact we pinned
  const c = await keys(); // someone else, who rotates for real
  const own = await makeRotation(c, await keys(), NOW);
  refused(() => verifyRotation(own, a.publicKey), "not the one pinned");
  // The old id of the pinned contact, but someone else's old key: the id check refuses it.
  const t = own.slice();
  t.set(clientIdFromPublicKey(a.publicKey), 18);
  refused(() => verifyRotation(t, a.publicKey), "old id is not the hash");
});

Deno.test("rotation: forged and swapped signatures are refused", async () => {
  const a = await keys(); // old, pinned
  const b = await keys(); // new
  const m = await keys(); // a third party
  const A = a.publicKey;
  const B = b.publicKey;
  // Signed only by the new key (in both places): the old key never authorised the move.
  await refusedAsync(forgeAsync(A, B, b, b), A, "old key's signature");
  // Signed by a third key in the old key's place, or in both places.
  await refusedAsync(forgeAsync(A, B, m, b), A, "old key's signature");
  await refusedAsync(forgeAsync(A, B, m, m), A, "old key's signature");
  // Rotating someone onto a key one does not hold: the old key signs, the new one cannot.
  await refusedAsync(forgeAsync(A, B, a, a), A, "new key's signature");
  await refusedAsync(forgeAsync(A, B, a, m), A, "new key's signature");
  // A third party's key as the new key, with its own valid signature but no old one.
  await refusedAsync(forgeAsync(A, m.publicKey, m, m), A, "old key's signature");
  // The two signatures swapped in place.
  const good = await makeRotation(a, b, NOW);
  const swapped = concat(good.subarray(0, 122), good.subarray(186, 250), good.subarray(122, 186));
  refused(() => verifyRotation(swapped, A), "old key's signature");
  // Each key signed the other role's message (the labels keep the roles apart).
  await refusedAsync(forgeAsync(A, B, a, b, { swapMessages: true }), A, "old key's");
  // Signatures taken from a genuine statement of another time do not carry over.
  const other = await makeRotation(a, b, NOW + 1);
  const spliced = concat(good.subarray(0, 122), other.subarray(122));
  refused(() => verifyRotation(spliced, A), "old key's signature");
  // Built by hand with the right signers, it verifies (the forgeries above differ only in signers).
  assertEquals(verifyRotation(await forgeAsync(A, B, a, b), A).newKey, B);
});

Deno.test("rotation: old = new is refused", async () => {
  const a = await keys();
  const same = await forgeAsync(a.publicKey, a.publicKey, a, a);
  refused(() => verifyRotation(same, a.publicKey), "are the same");
  await assertRejects(() => makeRotation(a, a, NOW), (e) => e instanceof TypeError);
});

Deno.test("rotation: a creation time beyond 2^53 - 1 is refused; makeRotation takes only ms", async () => {
  const a = await keys();
  const b = await keys();
  const body = rotationBody(a.publicKey, b.publicKey, 0);
  new DataView(body.buffer).setBigUint64(114, 1n << 53n);
  const t = await forgeAsync(a.publicKey, b.publicKey, a, b, { body });
  refused(() => verifyRotation(t, a.publicKey), "creation time");
  for (const bad of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
    await assertRejects(() => makeRotation(a, b, bad), (e) => e instanceof TypeError);
  }
});
