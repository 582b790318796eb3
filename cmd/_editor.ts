/**
 * The line editor of `schied chat` as a pure state machine: key bytes in, a new state and
 * actions out (`feed`), and what the input line looks like at a width (`view`, `render`).
 * One terminal row, scrolled sideways by half a row when the line is wider; grapheme clusters
 * move and delete as one, wide characters take two columns.
 *
 * @module
 */
import { decodeKeys, type Key, type KeyDecoder, NEW_DECODER } from "./_keys.ts";
import { graphemes, graphemeWidth, shown, textWidth } from "./_width.ts";

/** One grapheme cluster of the line, with its width and UTF-8 size. */
export interface Cell {
  readonly g: string;
  readonly w: number;
  readonly b: number;
}

/** The editor's state. */
export interface EditorState {
  /** The line being typed. */
  readonly line: readonly Cell[];
  /** The cursor, in cells from the start. */
  readonly cursor: number;
  /** Lines sent, oldest first (at most HISTORY_MAX). */
  readonly history: readonly string[];
  /** 0: editing a new line; k: showing history[history.length - k]. */
  readonly back: number;
  /** The new line while history is shown. */
  readonly draft: readonly Cell[];
  /** The key decoder's state. */
  readonly keys: KeyDecoder;
}

/** What the editor asks its user to do. */
export type EditorAction =
  | { t: "submit"; text: string }
  | { t: "eof" }
  | { t: "interrupt" }
  | { t: "bell" }
  | { t: "notice"; text: string };

/** Most lines the history keeps. */
export const HISTORY_MAX = 200;

/** An empty editor. */
export const NEW_EDITOR: EditorState = {
  line: [],
  cursor: 0,
  history: [],
  back: 0,
  draft: [],
  keys: NEW_DECODER,
};

const enc = new TextEncoder();

/** The cells of `text`. */
export function cellsOf(text: string): Cell[] {
  return graphemes(text).map((g) => ({ g, w: graphemeWidth(g), b: enc.encode(g).length }));
}

/** The text of the line. */
export function lineText(s: EditorState): string {
  return s.line.map((c) => c.g).join("");
}

const bytesOf = (cells: readonly Cell[]) => cells.reduce((n, c) => n + c.b, 0);
const isSpace = (c: Cell | undefined) => c !== undefined && /^\s+$/u.test(c.g);

/** Inserts `text` at the cursor, no more than `limit` bytes in all; regroups graphemes there. */
function insert(s: EditorState, text: string, limit: number, out: EditorAction[]): EditorState {
  let add = cellsOf(text);
  const room = limit - bytesOf(s.line);
  if (bytesOf(add) > room) {
    let n = 0, used = 0;
    while (n < add.length && used + add[n]!.b <= room) used += add[n++]!.b;
    const cut = bytesOf(add) - used;
    add = add.slice(0, n);
    out.push({ t: "bell" }, {
      t: "notice",
      text: `a message holds at most ${limit.toLocaleString("en")} bytes: ` +
        `${cut.toLocaleString("en")} bytes were not inserted`,
    });
  }
  if (add.length === 0) return s;
  // The cells on both sides may join the new text into one cluster (a combining mark, a ZWJ).
  const from = Math.max(0, s.cursor - 1), to = Math.min(s.line.length, s.cursor + 1);
  const left = s.line.slice(from, s.cursor).map((c) => c.g).join("");
  const right = s.line.slice(s.cursor, to).map((c) => c.g).join("");
  const joined = left + add.map((c) => c.g).join("");
  const merged = cellsOf(joined + right);
  let k = 0;
  for (let off = 0; k < merged.length && off < joined.length; k++) off += merged[k]!.g.length;
  const line = s.line.slice(0, from).concat(merged, s.line.slice(to));
  return { ...s, line, cursor: from + k };
}

function remove(s: EditorState, from: number, to: number): EditorState {
  if (from >= to) return s;
  const line = s.line.slice(0, from).concat(s.line.slice(to));
  return { ...s, line, cursor: from };
}

/** Where a word left of `i` starts (Ctrl-W, Alt-B). */
function wordLeft(line: readonly Cell[], i: number): number {
  while (i > 0 && isSpace(line[i - 1])) i--;
  while (i > 0 && !isSpace(line[i - 1])) i--;
  return i;
}

function wordRight(line: readonly Cell[], i: number): number {
  while (i < line.length && isSpace(line[i])) i++;
  while (i < line.length && !isSpace(line[i])) i++;
  return i;
}

function recall(s: EditorState, back: number): EditorState {
  const draft = s.back === 0 ? s.line : s.draft;
  const line = back === 0 ? draft : cellsOf(s.history[s.history.length - back]!);
  return { ...s, back, draft, line, cursor: line.length };
}

function onKey(s: EditorState, key: Key, limit: number, out: EditorAction[]): EditorState {
  if (key.t === "text") return insert(s, key.s, limit, out);
  if (key.t === "paste") {
    const next = insert(s, key.s.replace(/\r\n?/g, "\n"), limit, out);
    if (key.dropped > 0 && !out.some((a) => a.t === "notice")) {
      out.push({ t: "notice", text: `${key.dropped} bytes of the paste were not inserted` });
    }
    return next;
  }
  const bell = () => (out.push({ t: "bell" }), s);
  const { line, cursor } = s;
  switch (key.k) {
    case "enter": {
      const text = lineText(s);
      if (text.trim() === "") return { ...s, line: [], cursor: 0 };
      out.push({ t: "submit", text });
      const history = s.history[s.history.length - 1] === text
        ? s.history
        : [...s.history, text].slice(-HISTORY_MAX);
      return { ...s, line: [], cursor: 0, history, back: 0, draft: [] };
    }
    case "backspace":
      return cursor > 0 ? remove(s, cursor - 1, cursor) : bell();
    case "delete":
      return cursor < line.length ? remove(s, cursor, cursor + 1) : bell();
    case "ctrl-d":
      if (line.length === 0) return (out.push({ t: "eof" }), s);
      return cursor < line.length ? remove(s, cursor, cursor + 1) : bell();
    case "left":
      return cursor > 0 ? { ...s, cursor: cursor - 1 } : bell();
    case "right":
      return cursor < line.length ? { ...s, cursor: cursor + 1 } : bell();
    case "home":
      return { ...s, cursor: 0 };
    case "end":
      return { ...s, cursor: line.length };
    case "word-left":
      return { ...s, cursor: wordLeft(line, cursor) };
    case "word-right":
      return { ...s, cursor: wordRight(line, cursor) };
    case "kill-start":
      return remove(s, 0, cursor);
    case "kill-end":
      return { ...s, line: line.slice(0, cursor) };
    case "kill-word":
      return cursor > 0 ? remove(s, wordLeft(line, cursor), cursor) : bell();
    case "up":
      return s.back < s.history.length ? recall(s, s.back + 1) : bell();
    case "down":
      return s.back > 0 ? recall(s, s.back - 1) : bell();
    case "interrupt":
      // Ctrl-C clears a line being typed, and on an empty line asks to quit.
      if (line.length > 0) return { ...s, line: [], cursor: 0, back: 0, draft: [] };
      return (out.push({ t: "interrupt" }), s);
    case "redraw":
      return s;
  }
}

/**
 * Feeds key bytes to the editor: the new state, what to do, and whether the input line
 * changed (to be drawn again). Texts longer than `limit` UTF-8 bytes are refused.
 */
export function feed(
  s: EditorState,
  bytes: Uint8Array,
  limit: number,
): { state: EditorState; actions: EditorAction[]; redraw: boolean } {
  const { dec, keys } = decodeKeys(s.keys, bytes);
  let state: EditorState = { ...s, keys: dec };
  const actions: EditorAction[] = [];
  for (const k of keys) state = onKey(state, k, limit, actions);
  const redraw = keys.length > 0;
  return { state, actions, redraw };
}

/** The input line at `width` columns: the visible text and the cursor's column. */
export function view(s: EditorState, width: number, prompt: string): { text: string; col: number } {
  const pw = textWidth(prompt);
  const avail = Math.max(1, width - pw - 1); // the last column stays free: no wrap at the end
  const step = Math.max(1, Math.floor(avail / 2));
  let cursorX = 0;
  for (let i = 0; i < s.cursor; i++) cursorX += s.line[i]!.w;
  const target = cursorX > avail - 1 ? Math.ceil((cursorX - (avail - 1)) / step) * step : 0;
  let first = 0, x = 0;
  while (first < s.cursor && x < target) x += s.line[first++]!.w;
  let text = "", used = 0;
  for (let i = first; i < s.line.length && used + s.line[i]!.w <= avail; i++) {
    text += shown(s.line[i]!.g);
    used += s.line[i]!.w;
  }
  return { text: prompt + text, col: pw + cursorX - x };
}

/** Terminal output drawing the input line over the current row, cursor in place. */
export function render(s: EditorState, width: number, prompt: string): string {
  const v = view(s, width, prompt);
  return `\r${v.text}\x1b[K\r${v.col > 0 ? `\x1b[${v.col}C` : ""}`;
}
