/**
 * How contact names compare: without case, the same in every locale. A name keeps the case the
 * user typed (for display); its _key_ — what the blind index (sealer.ts) is computed from, so
 * what uniqueness and lookup go by — is its canonical caseless form (Unicode D145):
 *
 * ```
 * key(name) = NFC(fold(NFD(name)))
 * ```
 *
 * `fold` is Unicode's _full_ case folding (CaseFolding.txt, statuses C and F), not
 * `toLowerCase()`: lowercasing leaves `ß` and `ẞ` apart from `ss`, `ς` apart from `σ`, `ſ` apart
 * from `s`, `µ` apart from `μ` — pairs a person reads as one name. JavaScript has no case
 * folding, so it is built per code point from the default (locale-independent) case mappings:
 * lower, then upper, then lower again, which reaches the full folding of every code point
 * (`ß` → `SS` → `ss`, `ẞ` → `ß` → `ss`, `ς` → `Σ` → `σ`) — except the Turkish dotless `ı`, whose
 * uppercase is `I`: full folding keeps it apart from `i`, and so does this. Per code point, so
 * the final-sigma rule of `toLowerCase` (which looks at neighbours) never applies. Checked once
 * against Python's `str.casefold()` (Unicode 14) over every assigned code point: the same
 * classes. Not the Turkish (locale) folding: `I` is `i` here, whatever the machine's locale.
 *
 * Consequences: `Frank`, `frank` and `FRANK` are one name; so are `Straße`, `STRASSE` and
 * `strasse` (German uppercases ß as SS, and full folding follows); `ﬁ` is `fi`. Not folded:
 * compatibility forms (fullwidth `Ｆ` is not `F`) and look-alikes across scripts (Cyrillic `а`
 * is not Latin `a`) — a contact name is a local label, not a security boundary; the id and the
 * safety number are.
 *
 * @module
 */

const DOTLESS_I = "\u0131";

/** The full case folding of one code point (see the module doc). */
function foldChar(c: string): string {
  return c === DOTLESS_I ? c : c.toLowerCase().toUpperCase().toLowerCase();
}

/**
 * The caseless key of a contact name: equal keys, same name.
 *
 * @example
 * ```ts
 * nameKey("Straße") === nameKey("STRASSE"); // true
 * ```
 */
export function nameKey(name: string): string {
  let out = "";
  for (const c of name.normalize("NFD")) out += foldChar(c);
  return out.normalize("NFC");
}
