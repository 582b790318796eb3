/**
 * The group change statement (protocol/group.ts) and the membership state machine
 * (daemon/_groups_state.ts): a round trip, every refusal of the codec, and the state machine's
 * replays, skipped epochs, forks, non-admin signers and self-removal; the group fields of an `m`
 * payload (protocol/_payload_group.ts).
 *
 * @module
 */
import { assertEquals, assertOk, assertThrows } from "../_assert.ts";
import { randomSecret, signingKeyFromSeed, type SigningKeyPair } from "../../protocol/_crypto.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { clientIdFromPublicKey, formatId } from "../../protocol/identity.ts";
import {
  GROUP_MAX_MEMBERS,
  type GroupChangeBody,
  groupChangeLen,
  makeGroupChange,
  parseGroupChange,
} from "../../protocol/group.ts";
import { applyChange, diff, type GroupState } from "../../daemon/_groups_state.ts";
import { toBase64Url, utf8 } from "../../protocol/bytes.ts";
import { parsePayload } from "../../protocol/payload.ts";

async function party(): Promise<{ key: SigningKeyPair; id: string }> {
  const key = await signingKeyFromSeed(randomSecret());
  return { key, id: formatId(clientIdFromPublicKey(key.publicKey)) };
}

const G = "0123456789abcdef0123456789abcdef";
const [alice, bob, carol, dave] = await Promise.all([party(), party(), party(), party()]);

function body(epoch: number, members: string[], admins: string[], prev?: Uint8Array) {
  const b: GroupChangeBody = { group: G, epoch, createdMs: 1000 + epoch, members, admins };
  if (prev) b.prev = prev;
  return b;
}

async function change(by: SigningKeyPair, b: GroupChangeBody) {
  return parseGroupChange(await makeGroupChange(by, b));
}

function refused(fn: () => unknown, what: string): void {
  const e = assertThrows(fn, (e) => e instanceof ProtocolError);
  assertOk(e.message.startsWith("Cannot parse group change: "), e.message);
  assertOk(e.message.includes(what), `${e.message} should say ${what}`);
}

Deno.test("group change: round trip, length at 100 members", async () => {
  const bytes = await makeGroupChange(alice.key, body(1, [alice.id, bob.id], [alice.id]));
  const c = parseGroupChange(bytes);
  assertEquals(c.group, G);
  assertEquals(c.epoch, 1);
  assertEquals(c.createdMs, 1001);
  assertEquals(c.signer, alice.id);
  assertEquals(c.members, [alice.id, bob.id]);
  assertEquals(c.admins, [alice.id]);
  assertEquals(c.hash.length, 32);
  assertEquals(groupChangeLen(GROUP_MAX_MEMBERS), 1879);
});

Deno.test("group change: the codec refuses tampering, bad lengths, labels, prev", async () => {
  const bytes = await makeGroupChange(alice.key, body(1, [alice.id, bob.id], [alice.id]));
  for (const at of [0, 21, 30, 40, 60, bytes.length - 20]) {
    const t = bytes.slice();
    t[at]! ^= 1;
    assertThrows(() => parseGroupChange(t), (e) => e instanceof ProtocolError);
  }
  const flag = bytes.slice();
  flag[115 + 17 + 16] = 1; // bob made an admin: the signature no longer verifies
  refused(() => parseGroupChange(flag), "signature");
  refused(() => parseGroupChange(bytes.subarray(0, 50)), "too short");
  refused(() => parseGroupChange(bytes.subarray(0, bytes.length - 1)), "expected");
  const label = bytes.slice();
  label[0] = 0x53;
  refused(() => parseGroupChange(label), "label");
  const noPrev = await makeGroupChange(alice.key, body(2, [alice.id], [alice.id]));
  refused(() => parseGroupChange(noPrev), "epoch 2 names no previous statement");
  const prev1 = await makeGroupChange(
    alice.key,
    body(1, [alice.id], [alice.id], new Uint8Array(32).fill(1)),
  );
  refused(() => parseGroupChange(prev1), "epoch 1 names a previous statement");
});

Deno.test("group change: makeGroupChange refuses misuse", async () => {
  let e = false;
  try {
    await makeGroupChange(alice.key, body(1, [alice.id, alice.id], [alice.id]));
  } catch (err) {
    e = err instanceof TypeError;
  }
  assertOk(e, "a member listed twice is refused");
});

Deno.test("membership: create, add, remove, leave; replays, skips, forks, non-admins refused", async () => {
  const c1 = await change(alice.key, body(1, [alice.id, bob.id, carol.id], [alice.id]));
  const s1 = applyChange(undefined, c1);
  assertEquals(s1.epoch, 1);
  // An invitation signed by no admin of it.
  refused(
    () => applyChange(undefined, c1.admins.length ? { ...c1, signer: bob.id } : c1),
    "no admin",
  );
  refused(() => applyChange(s1, c1), "epoch 1 was applied already (a replay)");

  const c2 = await change(
    alice.key,
    body(2, [alice.id, bob.id, carol.id, dave.id], [alice.id], c1.hash),
  );
  const s2 = applyChange(s1, c2);
  assertEquals(diff(s1, s2), { added: [dave.id], removed: [] });

  // Bob, no admin, removes carol: refused.
  const forged = await change(bob.key, body(3, [alice.id, bob.id, dave.id], [alice.id], c2.hash));
  refused(() => applyChange(s2, forged), "no admin at epoch 2");
  // Bob makes himself admin: refused as well.
  const grab = await change(
    bob.key,
    body(3, [alice.id, bob.id, carol.id, dave.id], [alice.id, bob.id], c2.hash),
  );
  refused(() => applyChange(s2, grab), "no admin at epoch 2");
  // Skipping epoch 3.
  const c4 = await change(alice.key, body(4, [alice.id, bob.id], [alice.id], c2.hash));
  refused(() => applyChange(s2, c4), "epoch 4 does not follow 2");
  // An old epoch again, with another list (a fork or a replay of another statement).
  const other2 = await change(alice.key, body(2, [alice.id, bob.id], [alice.id], c1.hash));
  refused(() => applyChange(s2, other2), "epoch 2 does not follow 2");
  // Epoch 3 on top of another epoch 2.
  const onOther = await change(alice.key, body(3, [alice.id, bob.id], [alice.id], other2.hash));
  refused(() => applyChange(s2, onOther), "a fork");
  // Another group's statement.
  const elsewhere = parseGroupChange(
    await makeGroupChange(alice.key, {
      ...body(3, [alice.id], [alice.id], c2.hash),
      group: "f".repeat(32),
    }),
  );
  refused(() => applyChange(s2, elsewhere), "is not");

  // Alice removes carol, then names bob admin.
  const c3 = await change(alice.key, body(3, [alice.id, bob.id, dave.id], [alice.id], c2.hash));
  const s3 = applyChange(s2, c3);
  assertEquals(diff(s2, s3), { added: [], removed: [carol.id] });
  const c4b = await change(
    alice.key,
    body(4, [alice.id, bob.id, dave.id], [alice.id, bob.id], c3.hash),
  );
  const s4: GroupState = applyChange(s3, c4b);
  assertEquals(s4.admins, [alice.id, bob.id]);
  // Dave, no admin, leaves: his own removal is his to sign.
  const c5 = await change(dave.key, body(5, [alice.id, bob.id], [alice.id, bob.id], c4b.hash));
  const s5 = applyChange(s4, c5);
  assertEquals(s5.members, [alice.id, bob.id]);
  // But a leave that changes anything else is refused.
  const sneaky = await change(dave.key, body(5, [alice.id], [alice.id], c4b.hash));
  refused(() => applyChange(s4, sneaky), "no admin at epoch 4");
  // Bob, now an admin, may change it.
  const c6 = await change(
    bob.key,
    body(6, [alice.id, bob.id, carol.id], [alice.id, bob.id], c5.hash),
  );
  assertEquals(applyChange(s5, c6).epoch, 6);
});

Deno.test("payload: the group fields of m parse, and each bad one is refused by name", async () => {
  const statement = toBase64Url(
    await makeGroupChange(alice.key, body(1, [alice.id, bob.id], [alice.id])),
  );
  const m = { t: "m", id: "ab-1", seq: 3, ts: 5, text: "hi" };
  const copy = { ...m, g: G, ge: 2, gm: "0b3e51c2-6f1d-8a4e-9c1b-2d3e4f5a6b7c" };
  const parse = (j: unknown) => parsePayload(utf8.encode(JSON.stringify(j)));
  assertEquals(parse(copy), copy);
  const carrier = { ...m, text: "", gc: [statement] };
  assertEquals(parse(carrier), carrier);
  const bad: [unknown, string][] = [
    [{ ...copy, g: "xyz" }, "g is not a group id"],
    [{ ...copy, ge: 0 }, "ge is not a positive integer"],
    [{ ...copy, ge: 1.5 }, "ge is not a positive integer"],
    [{ ...copy, gm: undefined }, "gm is not a message id"],
    [{ ...carrier, gc: [] }, "gc is not 1 to 4 group change statements"],
    [{ ...carrier, gc: Array(5).fill(statement) }, "gc is not 1 to 4 group change statements"],
    [{ ...carrier, gc: ["not base64!"] }, "gc is not 1 to 4 group change statements"],
    [{ ...carrier, gc: ["AAAA"] }, "gc is not 1 to 4 group change statements"],
    [{ ...carrier, text: "x" }, "gc is on a payload with a text or a group"],
  ];
  for (const [j, what] of bad) {
    const e = assertThrows(() => parse(j), (e) => e instanceof ProtocolError);
    assertOk(e.message.includes(what), `${e.message} should say ${what}`);
  }
});
