/**
 * `listen --save-dir`'s names: a received file's name made safe to create (no separator, no
 * control or bidirectional character, no leading dot) and short enough in bytes that a
 * ` (N)` suffix still fits a file system's 255-byte limit.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { MAX_SAVED_NAME_BYTES, safeName } from "../../cmd/_save_dir.ts";

const bytes = (s: string) => new TextEncoder().encode(s).length;

Deno.test("safeName: separators, controls, bidi controls and leading dots are replaced", () => {
  for (
    const [given, want] of [
      ["report.pdf", "report.pdf"],
      ["../../etc/passwd", "__.._etc_passwd"],
      ["a\\b", "a_b"],
      [".hidden", "_hidden"],
      ["x\u0000y\u001b[31m", "x_y_[31m"],
      ["invoice\u202Efdp.exe", "invoice_fdp.exe"],
      ["\u2066a\u2069", "_a_"],
      ["", "file"],
    ] as const
  ) assertEquals(safeName(given), want, JSON.stringify(given));
});

Deno.test("safeName: long names are cut by UTF-8 bytes, on a character boundary, keeping the extension", () => {
  for (
    const name of [
      "一".repeat(85),
      "一".repeat(85) + ".txt",
      "é".repeat(300) + ".tar.gz",
      "a".repeat(400),
    ]
  ) {
    const s = safeName(name);
    assertOk(bytes(s) <= MAX_SAVED_NAME_BYTES, `${bytes(s)} bytes`);
    assertOk(bytes(`${s} (9999)`) <= 255, "a suffix still fits");
    assertOk(!s.includes("\uFFFD"), "no broken character");
    const dot = name.lastIndexOf(".");
    if (dot > 0) assertOk(s.endsWith(name.slice(dot)), `${s} keeps ${name.slice(dot)}`);
  }
  assertEquals(safeName("short.txt"), "short.txt");
});
