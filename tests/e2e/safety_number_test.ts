/**
 * Issue 9, item 12, with real processes: one safety number per pair — A's number for B is B's
 * number for A, in the API (contacts) and in the CLI (`contacts add`, `contacts verify`) — while
 * `/me` and `schied id --json` show a fingerprint of the identity's key alone, which matches
 * neither. And names ignore case end to end: `send BOB`, `contacts verify ALICE`, and a second
 * `bob` refused with name_taken and a hint.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { waitFor } from "../harness.ts";
import { cli, startPair } from "../daemon_harness.ts";

const SAFETY = /^safety number: (\d{5}( \d{5}){7})$/m;
const FINGERPRINT = /^[0-9a-f]{4}( [0-9a-f]{4}){7}$/;

Deno.test("safety numbers: one per pair, the same on both sides; /me and id --json show a fingerprint", async () => {
  const { a, b, done } = await startPair();
  try {
    const at = (d: typeof a) => ["--state-dir", d.stateDir];
    // The pair: both sides know the other's key (startPair added them), so both have a number.
    await waitFor(async () => {
      const [ca, cb] = [(await a.api.contacts())[0], (await b.api.contacts())[0]];
      return ca?.safety_number && cb?.safety_number;
    }, "both keys pinned");
    const [forB, forA] = [(await a.api.contacts())[0]!, (await b.api.contacts())[0]!];
    assertEquals([forB.id, forA.id], [b.id, a.id]);
    assertEquals(forB.safety_number, forA.safety_number, "A's number for B is B's for A");

    // Named in one case, found in another; the CLI prints the same number on both sides.
    const addB = await cli(["contacts", "add", b.id, "Bob", ...at(a)]);
    assertEquals(addB.code, 0, addB.stderr);
    const addA = await cli(["contacts", "add", a.id, "alice", ...at(b)]);
    assertEquals(addA.code, 0, addA.stderr);
    const vA = await cli(["contacts", "verify", "BOB", ...at(a)]);
    const vB = await cli(["contacts", "verify", "ALICE", ...at(b)]);
    assertEquals([vA.code, vB.code], [0, 0], vA.stderr + vB.stderr);
    assertOk(/^Bob +\S+ +\S+ +verified$/m.test(vA.stdout), vA.stdout);
    assertEquals(vA.stdout.match(SAFETY)?.[1], forB.safety_number!, vA.stdout);
    assertEquals(vB.stdout.match(SAFETY)?.[1], forB.safety_number!, vB.stdout);
    assertEquals(addB.stdout.match(SAFETY)?.[1], forB.safety_number!, "contacts add prints it");

    // /me: a fingerprint (no "safety_number"), its own per identity, unlike the pair's number.
    const [meA, meB] = [await a.api.me(), await b.api.me()];
    assertOk(!("safety_number" in meA), JSON.stringify(meA));
    for (const m of [meA, meB]) assertOk(FINGERPRINT.test(m.fingerprint), m.fingerprint);
    assertOk(meA.fingerprint !== meB.fingerprint);
    const id = await cli(["id", "--json", ...at(a)]);
    assertEquals(id.code, 0, id.stderr);
    assertEquals(JSON.parse(id.stdout).fingerprint, meA.fingerprint);
    assertOk(!id.stdout.includes("safety"), id.stdout);
    const plain = await cli(["id", ...at(a)]);
    assertEquals(plain.stdout, `${a.id}\n`, "plain id output stays the id alone");

    // A second "bob", in another case, is refused; sending to BOB reaches Bob.
    // Another well-formed id: A's with its first hex digit changed (never A's own).
    const other = (a.id[0] === "0" ? "1" : "0") + a.id.slice(1);
    const taken = await cli(["contacts", "add", other, "bob", ...at(a)]);
    assertEquals(taken.code, 1, taken.stderr);
    assertOk(/^schied: error: The name "bob" is taken: "Bob"/m.test(taken.stderr), taken.stderr);
    assertOk(/^schied: hint: names ignore case/m.test(taken.stderr), taken.stderr);
    const sent = await cli(["send", "BOB", "hi in capitals", ...at(a)]);
    assertEquals(sent.code, 0, sent.stderr);
    await waitFor(
      async () =>
        (await b.api.messages({ with: "Alice" })).some((m) => m.text === "hi in capitals"),
      "B has the message, listed under ALICE's name in another case",
    );
  } finally {
    await done();
  }
});
