/**
 * A safety number as a QR code for the terminal: encoded by the `qrcode` library (npm), drawn
 * here with Unicode half blocks, two modules a character cell (`▀`, `▄`, `█`, space).
 *
 * What it holds: the number's 40 digits alone, no spaces (QR numeric mode: a version 2 symbol,
 * 25×25 modules, 15 lines), so any scanner shows digits to compare with the ones the other side's
 * screen shows. Error correction M. Why drawn here rather than by the library's own renderers:
 * its `terminal` one leaves a quiet zone of one module, its `utf8` one paints the dark modules in
 * the terminal's foreground colour, which is light on a dark theme (an inverted code that many
 * scanners refuse). With colours (a terminal, no NO_COLOR) every line is black on white, whatever
 * the theme, with a quiet zone of {@link QR_MARGIN} modules; without, dark modules are ink.
 * The same number always gives the same text.
 *
 * @module
 */
// @ts-types="@types/qrcode"
import QRCode from "qrcode";

/** Light modules around the symbol (the spec asks 4; 2 is what phone scanners need). */
export const QR_MARGIN = 2;

/** What the QR code of a safety number encodes: its digits, without the spaces. */
export function qrPayload(safetyNumber: string): string {
  const digits = safetyNumber.replaceAll(" ", "");
  if (!/^\d+$/.test(digits)) throw new TypeError("a safety number is digits in groups");
  return digits;
}

/** The dark modules of the QR code of a safety number: `rows[y][x]`, the margin excluded. */
export function qrModules(safetyNumber: string): boolean[][] {
  const { modules } = QRCode.create(qrPayload(safetyNumber), { errorCorrectionLevel: "M" });
  return Array.from(
    { length: modules.size },
    (_, y) => Array.from({ length: modules.size }, (_, x) => modules.get(y, x) === 1),
  );
}

const HALF: Record<string, string> = { "00": " ", "10": "▀", "01": "▄", "11": "█" };
const BLACK_ON_WHITE = "\x1b[30;47m";
const RESET = "\x1b[0m";

/**
 * The QR code of a safety number as lines of half blocks, with a margin: black on white when
 * `color`, else ink for dark modules and spaces for light ones.
 */
export function qrText(safetyNumber: string, color: boolean): string {
  const rows = qrModules(safetyNumber);
  const n = rows.length;
  const dark = (x: number, y: number) =>
    x >= 0 && y >= 0 && x < n && y < n && rows[y]![x]! === true;
  const lines: string[] = [];
  for (let y = -QR_MARGIN; y < n + QR_MARGIN; y += 2) {
    let line = "";
    for (let x = -QR_MARGIN; x < n + QR_MARGIN; x++) {
      line += HALF[`${dark(x, y) ? 1 : 0}${dark(x, y + 1) ? 1 : 0}`];
    }
    lines.push(color ? `${BLACK_ON_WHITE}${line}${RESET}` : line);
  }
  return lines.join("\n");
}
