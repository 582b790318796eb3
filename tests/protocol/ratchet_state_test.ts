import { assertEquals, assertThrows } from "../_assert.ts";
import { utf8 } from "../../protocol/bytes.ts";
import {
  MLKEM_PUBLIC_KEY_LEN,
  RATCHET_MAX_SKIPPED_CHAINS,
  RATCHET_STATE_VERSION,
} from "../../protocol/constants.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import {
  initRatchet,
  parseRatchet,
  ratchetDecrypt,
  ratchetEncrypt,
  type RatchetState,
  serializeRatchet,
} from "../../protocol/ratchet.ts";

const rand = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const [idA, idB] = [rand(16), rand(16)];
const deps = { now: 1_700_000_000_000 };
const badState = (m: string) => (e: Error) =>
  e instanceof ProtocolError && e.code === "bad_frame" && e.message.includes(m);

async function busyPair(): Promise<{ a: RatchetState; b: RatchetState; late: Uint8Array[] }> {
  const h = rand(32), split = [rand(32), rand(32)] as const;
  let a = await initRatchet({ h, split, initiator: true, localId: idA, peerId: idB, kemPeriod: 2 });
  let b = await initRatchet({
    h,
    split,
    initiator: false,
    localId: idB,
    peerId: idA,
    kemPeriod: 2,
  });
  const late: Uint8Array[] = [];
  for (let turn = 0; turn < 5; turn++) {
    for (let i = 0; i < 4; i++) {
      const s = await ratchetEncrypt(a, utf8.encode(`a${turn}.${i}`), deps);
      a = s.state;
      if (i % 2) b = (await ratchetDecrypt(b, s.message, deps)).state;
      else late.push(s.message);
    }
    const r = await ratchetEncrypt(b, utf8.encode("ack"), deps);
    b = r.state;
    a = (await ratchetDecrypt(a, r.message, deps)).state;
  }
  return { a, b, late };
}

Deno.test("ratchet state: serialise, parse, and go on exactly as before", async () => {
  let { a, b, late } = await busyPair();
  assertEquals(b.skipped.length > 0, true);
  const a2 = parseRatchet(serializeRatchet(a)), b2 = parseRatchet(serializeRatchet(b));
  assertEquals(a2, a);
  assertEquals(b2, b);
  assertEquals(serializeRatchet(b2), serializeRatchet(b));
  // The parsed state opens late messages still in its skipped store and keeps talking.
  for (const m of late.slice(-2)) b = (await ratchetDecrypt(b2, m, deps)).state;
  const s = await ratchetEncrypt(a2, utf8.encode("after restore"), deps);
  assertEquals((await ratchetDecrypt(b, s.message, deps)).plaintext, utf8.encode("after restore"));
  a = s.state;
  assertEquals(serializeRatchet(parseRatchet(serializeRatchet(a))), serializeRatchet(a));
});

Deno.test("ratchet state: the fresh states of both roles round-trip", async () => {
  const h = rand(32), split = [rand(32), rand(32)] as const;
  for (const initiator of [true, false]) {
    const s = await initRatchet({ h, split, initiator, localId: idA, peerId: idB });
    assertEquals(parseRatchet(serializeRatchet(s)), s);
  }
});

Deno.test("ratchet state: strict parse refuses every defect with its own message", async () => {
  const { b } = await busyPair();
  const good = serializeRatchet(b);
  const with_ = (f: (x: Uint8Array) => void) => {
    const x = good.slice();
    f(x);
    return x;
  };
  const cases: [Uint8Array, string][] = [
    [new Uint8Array(), "truncated in version"],
    [with_((x) => (x[0] = RATCHET_STATE_VERSION + 1)), `version ${RATCHET_STATE_VERSION + 1}`],
    [with_((x) => (x[2] = 0x80)), "unknown flag bits"],
    [with_((x) => (x[3] = 0)), "KEM period 0"],
    [with_((x) => (x[4] = 4)), "shape 4 is unknown"],
    [good.subarray(0, 100), "truncated"],
    [good.subarray(0, good.length - 1), "truncated in skipped key"],
    [Uint8Array.of(...good, 0), "1 trailing bytes"],
  ];
  for (const [bytes, m] of cases) assertThrows(() => parseRatchet(bytes), badState(m), m);
});

Deno.test("ratchet state: counts over their caps and keys out of order are refused", async () => {
  const { b } = await busyPair();
  const good = serializeRatchet(b);
  // The skipped section is last: find it from the end (chain count byte before the first chain).
  let keys = 0;
  for (const c of b.skipped) keys += c.keys.length;
  const section = 1 + b.skipped.length * 66 + keys * 44;
  const at = good.length - section;
  assertEquals(good[at], b.skipped.length);
  const over = good.slice();
  over[at] = RATCHET_MAX_SKIPPED_CHAINS + 1;
  assertThrows(() => parseRatchet(over), badState("skipped chains exceed the cap"));
  const zero = good.slice();
  zero[at + 65] = 0;
  zero[at + 66] = 0;
  assertThrows(() => parseRatchet(zero), badState("skipped count 0"));
  if (b.skipped[0]!.keys.length >= 2) {
    const swapped = good.slice();
    swapped.set(good.subarray(at + 67, at + 71), at + 67 + 44);
    assertThrows(() => parseRatchet(swapped), badState("out of order"));
  }
  // A lone flag for the peer's ML-KEM key without its 1,184 bytes.
  const flags = good.slice();
  flags[1]! ^= 128;
  assertThrows(() => parseRatchet(flags), (e) => e instanceof ProtocolError);
  assertEquals(MLKEM_PUBLIC_KEY_LEN, 1184);
});
