/**
 * Issue 10, item 6, with real processes: `schied contacts verify` on both sides of a pair shows
 * the same safety number in 8 groups of 5 digits and, with `--qr`, the same QR code (none without
 * a terminal, nor with `--no-qr`), and marks the contact verified. The mark belongs to one pair of
 * keys: it does not survive removing the contact, and an identity rotation (a new key, so a new
 * id, to which the other side moves the contact) starts with nothing verified on either side.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { waitFor } from "../harness.ts";
import { cli, startPair } from "../daemon_harness.ts";
import { qrText } from "../../cmd/_qr.ts";

const SAFETY = /^safety number: (\d{5}( \d{5}){7})$/m;
const BLOCKS = /[▀▄█]/;

Deno.test("contacts verify: the same number and QR code on both sides; the mark is of one pair of keys", async () => {
  const { a, b, done } = await startPair();
  try {
    const at = (d: typeof a) => ["--state-dir", d.stateDir];
    await waitFor(async () => {
      const [ca, cb] = [(await a.api.contacts())[0], (await b.api.contacts())[0]];
      return ca?.safety_number && cb?.safety_number;
    }, "both keys pinned");
    const number = (await a.api.contacts())[0]!.safety_number!;

    // Not a terminal: the number, no QR code; --qr draws it, the same on both sides.
    const vA = await cli(["contacts", "verify", b.id, ...at(a)]);
    const vB = await cli(["contacts", "verify", a.id, "--qr", ...at(b)]);
    const vA2 = await cli(["contacts", "verify", b.id, "--qr", ...at(a)]);
    assertEquals([vA.code, vB.code, vA2.code], [0, 0, 0], vA.stderr + vB.stderr + vA2.stderr);
    for (const v of [vA, vB, vA2]) assertEquals(v.stdout.match(SAFETY)?.[1], number, v.stdout);
    assertOk(!BLOCKS.test(vA.stdout), vA.stdout);
    const qrOf = (out: string) => out.split("\n\n")[1]!.replace(/\n$/, "");
    assertEquals(qrOf(vB.stdout), qrText(number, false), "B's QR code is of the number");
    assertEquals(qrOf(vA2.stdout), qrOf(vB.stdout), "A's QR code is B's");
    const none = await cli(["contacts", "verify", b.id, "--no-qr", ...at(a)]);
    assertEquals(none.code, 0, none.stderr);
    assertOk(!BLOCKS.test(none.stdout) && SAFETY.test(none.stdout), none.stdout);
    const both = await cli(["contacts", "verify", b.id, "--qr", "--no-qr", ...at(a)]);
    assertEquals(both.code, 2, both.stderr);
    assertEquals((await a.api.contacts())[0]!.verified, true);
    assertEquals((await b.api.contacts())[0]!.verified, true);

    // --no clears the mark, and draws nothing.
    const clear = await cli(["contacts", "verify", a.id, "--no", "--qr", ...at(b)]);
    assertEquals(clear.code, 0, clear.stderr);
    assertOk(/ unverified$/m.test(clear.stdout) && !BLOCKS.test(clear.stdout), clear.stdout);
    assertEquals((await b.api.contacts())[0]!.verified, false);

    // Removed and added again: the same key, but the mark is gone.
    assertEquals((await cli(["contacts", "rm", b.id, ...at(a)])).code, 0);
    await a.api.addContact({ id: b.id });
    const readded = (await a.api.contacts()).find((c) => c.id === b.id)!;
    assertEquals(readded.verified, false, "re-adding does not bring the mark back");
    await a.api.verifyContact(b.id);
    await b.api.verifyContact(a.id);

    // A rotates: a new key is a new id. A's new identity has nothing verified; B is told (a
    // statement signed by A's old and new keys) and moves A to the new id, unverified until B
    // confirms again.
    const rotated = await a.api.rotate();
    assertOk(rotated.id !== a.id, "a new key, a new id");
    assertOk(!(await a.api.contacts()).some((c) => c.verified), "nothing verified after rotate");
    const moved = await waitFor(
      async () => (await b.api.contacts()).find((c) => c.id === rotated.id),
      "B to move A to the new id",
    );
    assertEquals([moved.verified, moved.identity_key], [false, rotated.identity_key]);
    assertOk(!(await b.api.contacts()).some((c) => c.id === a.id), "the old id is gone");
    assertOk(moved.safety_number !== number, "another pair of keys, another number");
    assertEquals((await b.api.verifyContact(rotated.id)).verified, true, "B confirms");
  } finally {
    await done();
  }
});
