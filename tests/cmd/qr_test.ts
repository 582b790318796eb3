/**
 * `contacts verify` output, without a daemon: the safety number in its groups, and its QR code
 * (cmd/_qr.ts) — produced deterministically (the same number, the same text), distinct for
 * distinct numbers, faithful to the symbol the library encoded (the half blocks read back give
 * its modules, with a light margin), black on white with colours, and left out unless asked.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { verifyOutput } from "../../cmd/contacts.ts";
import { QR_MARGIN, qrModules, qrPayload, qrText } from "../../cmd/_qr.ts";
import type { Contact } from "../../api/client.ts";

const NUMBERS = [
  "00000 00000 00000 00000 00000 00000 00000 00000",
  "12345 67890 12345 67890 12345 67890 12345 67890",
  "99999 00001 31415 92653 58979 32384 62643 38327",
  "54321 09876 11111 22222 33333 44444 55555 66666",
];

/** Reads half-block lines back into dark modules (margin included). */
function readBack(text: string): boolean[][] {
  const rows: boolean[][] = [];
  for (const line of text.split("\n")) {
    const top: boolean[] = [], bottom: boolean[] = [];
    for (const ch of line) {
      assertOk(" ▀▄█".includes(ch), `unexpected character ${JSON.stringify(ch)}`);
      top.push(ch === "▀" || ch === "█");
      bottom.push(ch === "▄" || ch === "█");
    }
    rows.push(top, bottom);
  }
  return rows;
}

Deno.test("qr: the same number gives the same text; different numbers, different codes", () => {
  const texts = NUMBERS.map((n) => qrText(n, false));
  for (const [i, n] of NUMBERS.entries()) {
    assertEquals(qrText(n, false), texts[i], "deterministic");
    assertEquals(qrText(n, true), qrText(n, true), "deterministic with colours");
    assertEquals(qrPayload(n), n.replaceAll(" ", ""), "the payload is the 40 digits");
  }
  assertEquals(new Set(texts).size, NUMBERS.length, "distinct numbers, distinct codes");
});

Deno.test("qr: the half blocks are the library's symbol, with a light margin", () => {
  for (const n of NUMBERS) {
    const modules = qrModules(n);
    assertEquals(modules.length, 25, "40 digits in numeric mode at level M: version 2");
    const size = modules.length + 2 * QR_MARGIN;
    const read = readBack(qrText(n, false));
    assertEquals(read.length, size + 1, "15 lines of two module rows (the last half margin)");
    for (const [y, row] of read.entries()) {
      assertEquals(row.length, size);
      for (const [x, dark] of row.entries()) {
        const [mx, my] = [x - QR_MARGIN, y - QR_MARGIN];
        const inside = mx >= 0 && my >= 0 && mx < 25 && my < 25;
        assertEquals(dark, inside && modules[my]![mx]!, `module ${mx},${my} of ${n}`);
      }
    }
    // A finder pattern's corner, dark, in three corners; the fourth corner is not one.
    assertOk(modules[0]![0]! && modules[0]![24]! && modules[24]![0]!);
    assertOk(modules[7]![7]! === false, "the separator of the top left finder is light");
  }
});

Deno.test("qr: with colours every line is black on white and reset", () => {
  const plain = qrText(NUMBERS[1]!, false).split("\n");
  const colored = qrText(NUMBERS[1]!, true).split("\n");
  assertEquals(colored, plain.map((l) => `\x1b[30;47m${l}\x1b[0m`));
});

Deno.test("qr: not a safety number is refused", () => {
  let threw = false;
  try {
    qrPayload("12345 abcde");
  } catch (e) {
    threw = e instanceof TypeError;
  }
  assertOk(threw);
});

const contact = (safety: string | null): Contact => ({
  id: "0190a3c4-5b6d-8e7f-8a1b-2c3d4e5f6a7b",
  name: "Bob",
  identity_key: safety ? "AAAA" : null,
  verified: true,
  online: true,
  safety_number: safety,
} as unknown as Contact);

Deno.test("contacts verify output: the line, the grouped number, the QR only when asked", () => {
  const cases: { qr?: { color: boolean }; safety: string | null; lines: number }[] = [
    { safety: NUMBERS[1]!, lines: 2 },
    { safety: NUMBERS[1]!, qr: { color: false }, lines: 2 + 1 + 15 },
    { safety: NUMBERS[1]!, qr: { color: true }, lines: 2 + 1 + 15 },
    { safety: null, qr: { color: false }, lines: 1 },
  ];
  for (const c of cases) {
    const out = verifyOutput(contact(c.safety), c.qr);
    const lines = out.split("\n");
    assertEquals(lines.length, c.lines, out);
    assertOk(/^Bob +\S+ +online +verified$/.test(lines[0]!), lines[0]);
    if (c.safety) {
      assertEquals(lines[1], `safety number: ${c.safety}`);
      assertOk(/^safety number: \d{5}( \d{5}){7}$/.test(lines[1]!), "8 groups of 5 digits");
    }
    if (c.qr && c.safety) {
      assertEquals(lines.slice(3).join("\n"), qrText(c.safety, c.qr.color));
    } else assertOk(!/[▀▄█]/.test(out), "no QR code");
  }
});
