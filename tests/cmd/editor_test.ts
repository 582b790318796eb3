/**
 * Table tests of chat's line editor (cmd/_editor.ts) and its key decoder (cmd/_keys.ts): key
 * bytes in, the line, the cursor and the actions out; and the one-row view at a width.
 *
 * @module
 */
import { assertEquals } from "../_assert.ts";
import {
  type EditorAction,
  type EditorState,
  feed,
  lineText,
  NEW_EDITOR,
  render,
  view,
} from "../../cmd/_editor.ts";
import { decodeKeys, NEW_DECODER } from "../../cmd/_keys.ts";
import { textWidth } from "../../cmd/_width.ts";

const enc = new TextEncoder();
const LEFT = "\x1b[D", RIGHT = "\x1b[C", UP = "\x1b[A", DOWN = "\x1b[B";
const HOME = "\x1b[H", END = "\x1b[F", DEL = "\x1b[3~", BS = "\x7f";

/** Feeds each chunk in turn (as separate reads); returns the end state and all actions. */
function type(chunks: (string | Uint8Array)[], limit = 60_000, from = NEW_EDITOR) {
  let state: EditorState = from;
  const actions: EditorAction[] = [];
  for (const c of chunks) {
    const r = feed(state, typeof c === "string" ? enc.encode(c) : c, limit);
    state = r.state;
    actions.push(...r.actions);
  }
  return { state, actions, text: lineText(state), cursor: state.cursor };
}

const submits = (a: EditorAction[]) => a.flatMap((x) => x.t === "submit" ? [x.text] : []);

const CASES: { name: string; keys: string[]; text: string; cursor: number; sent?: string[] }[] = [
  { name: "plain text", keys: ["hello"], text: "hello", cursor: 5 },
  { name: "left and insert", keys: ["abc", LEFT, LEFT, "X"], text: "aXbc", cursor: 2 },
  { name: "SS3 arrows", keys: ["abc", "\x1bOD", "\x1bOD", "\x1bOC", "Y"], text: "abYc", cursor: 3 },
  { name: "right past the end rings", keys: ["ab", RIGHT, "c"], text: "abc", cursor: 3 },
  { name: "backspace", keys: ["abc", LEFT, BS], text: "ac", cursor: 1 },
  { name: "ctrl-h is backspace", keys: ["abc", "\x08"], text: "ab", cursor: 2 },
  { name: "delete", keys: ["abc", HOME, DEL], text: "bc", cursor: 0 },
  { name: "home/end keys", keys: ["bc", HOME, "a", END, "d"], text: "abcd", cursor: 4 },
  {
    name: "home/end ~ forms",
    keys: ["bc", "\x1b[1~", "a", "\x1b[4~", "d"],
    text: "abcd",
    cursor: 4,
  },
  { name: "ctrl-a / ctrl-e", keys: ["bc", "\x01", "a", "\x05", "d"], text: "abcd", cursor: 4 },
  { name: "ctrl-u kills to start", keys: ["hello world", LEFT, "\x15"], text: "d", cursor: 0 },
  { name: "ctrl-k kills to end", keys: ["hello world", HOME, RIGHT, "\x0b"], text: "h", cursor: 1 },
  {
    name: "ctrl-w kills a word",
    keys: ["hello big world  ", "\x17"],
    text: "hello big ",
    cursor: 10,
  },
  {
    name: "ctrl-left/right",
    keys: ["one two", "\x1b[1;5D", "X", "\x1b[1;5C", "Y"],
    text: "one XtwoY",
    cursor: 9,
  },
  { name: "alt-b", keys: ["one two", "\x1bb", "_"], text: "one _two", cursor: 5 },
  { name: "enter sends and clears", keys: ["hi\r"], text: "", cursor: 0, sent: ["hi"] },
  { name: "blank line is not sent", keys: ["   \r"], text: "", cursor: 0, sent: [] },
  { name: "two lines in one read", keys: ["a\rb\r\n"], text: "", cursor: 0, sent: ["a", "b"] },
  { name: "ctrl-d deletes under the cursor", keys: ["ab", LEFT, "\x04"], text: "a", cursor: 1 },
  { name: "unknown CSI ignored", keys: ["a", "\x1b[5~", "\x1b[?1;2c", "b"], text: "ab", cursor: 2 },
  { name: "lone ESC dropped before a letter", keys: ["a", "\x1b", "x"], text: "ax", cursor: 2 },
  {
    name: "sequence split over reads",
    keys: ["ab", "\x1b", "[", "D", "X"],
    text: "aXb",
    cursor: 2,
  },
  { name: "wide: left over a CJK char", keys: ["日本", LEFT, "x"], text: "日x本", cursor: 2 },
  { name: "emoji is one cell", keys: ["a👍b", LEFT, BS], text: "ab", cursor: 1 },
  { name: "ZWJ sequence is one cell", keys: ["👩‍💻!", LEFT, BS], text: "!", cursor: 0 },
  { name: "flag typed in halves joins", keys: ["🇩", "🇪", BS], text: "", cursor: 0 },
  {
    name: "combining mark joins its letter",
    keys: ["e", "\u0301", "x", LEFT, BS],
    text: "x",
    cursor: 0,
  },
  { name: "tab is kept", keys: ["a\tb"], text: "a\tb", cursor: 3 },
  { name: "ctrl-c clears a line", keys: ["abc", "\x03", "d"], text: "d", cursor: 1 },
];

for (const c of CASES) {
  Deno.test(`editor: ${c.name}`, () => {
    const r = type(c.keys);
    assertEquals(r.text, c.text);
    assertEquals(r.cursor, c.cursor);
    if (c.sent) assertEquals(submits(r.actions), c.sent);
  });
}

Deno.test("editor: a UTF-8 character split over reads", () => {
  const bytes = enc.encode("é日👍");
  const r = type([...bytes].map((b) => new Uint8Array([b])));
  assertEquals(r.text, "é日👍");
  assertEquals(r.cursor, 3);
});

Deno.test("editor: history up/down, with the draft kept", () => {
  const r = type(["one\r", "two\r", "dra", UP]);
  assertEquals(r.text, "two");
  const r2 = type([UP], 60_000, r.state);
  assertEquals(r2.text, "one");
  const r3 = type([UP], 60_000, r2.state);
  assertEquals(r3.actions, [{ t: "bell" }]);
  const r4 = type([DOWN, DOWN], 60_000, r3.state);
  assertEquals(r4.text, "dra");
  const r5 = type(["ft", UP, "!\r"], 60_000, r4.state);
  assertEquals(submits(r5.actions), ["two!"]);
  assertEquals(r5.state.history, ["one", "two", "two!"]);
});

Deno.test("editor: ctrl-d on an empty line, ctrl-c on an empty line", () => {
  assertEquals(type(["\x04"]).actions, [{ t: "eof" }]);
  assertEquals(type(["\x03"]).actions, [{ t: "interrupt" }]);
});

Deno.test("editor: a bracketed paste keeps newlines and may be split anywhere", () => {
  const r = type(["x", "\x1b[200~line 1\r\nline", " 2\x1b[2", "01~", "y"]);
  assertEquals(r.text, "xline 1\nline 2y");
  assertEquals(submits(r.actions), []);
});

Deno.test("editor: a 60,000-byte paste fits; past the limit the rest is refused loudly", () => {
  const big = "x".repeat(60_000);
  const r = type([big, "\r"]);
  assertEquals(submits(r.actions), [big]);
  const r2 = type(["ab", "\x1b[200~" + "y".repeat(10) + "\x1b[201~"], 10);
  assertEquals(r2.text, "abyyyyyyyy");
  const notice = r2.actions.find((a) => a.t === "notice");
  assertEquals(notice, {
    t: "notice",
    text: "a message holds at most 10 bytes: 2 bytes were not inserted",
  });
});

Deno.test("keys: decoder keeps an unfinished sequence", () => {
  const a = decodeKeys(NEW_DECODER, enc.encode("a\x1b["));
  assertEquals(a.keys, [{ t: "text", s: "a" }]);
  const b = decodeKeys(a.dec, enc.encode("3~"));
  assertEquals(b.keys, [{ t: "key", k: "delete" }]);
  assertEquals(b.dec.pending.length, 0);
});

Deno.test("width: ASCII 1, CJK and emoji 2, combining 0, controls as escaped", () => {
  assertEquals(textWidth("abc"), 3);
  assertEquals(textWidth("日本"), 4);
  assertEquals(textWidth("👍"), 2);
  assertEquals(textWidth("👩‍💻"), 2);
  assertEquals(textWidth("🇩🇪"), 2);
  assertEquals(textWidth("e\u0301"), 1);
  assertEquals(textWidth("❤️"), 2);
  assertEquals(textWidth("\x1b"), 4); // shown as \x1b
});

Deno.test("view: cursor column counts wide characters; long lines scroll by half rows", () => {
  const r = type(["日本", LEFT]);
  assertEquals(view(r.state, 80, "> "), { text: "> 日本", col: 4 });
  // 20 columns: prompt 2, 17 for text.
  const long = type(["abcdefghijklmnopqrstuvwxyz"]);
  const v = view(long.state, 20, "> ");
  assertEquals(v.col <= 19, true);
  assertEquals(v.text.endsWith("z"), true);
  assertEquals(textWidth(v.text) <= 19, true);
  const home = type([HOME], 60_000, long.state);
  assertEquals(view(home.state, 20, "> "), { text: "> abcdefghijklmnopq", col: 2 });
  assertEquals(render(home.state, 20, "> "), "\r> abcdefghijklmnopq\x1b[K\r\x1b[2C");
  // A wide character never straddles the right edge.
  const wide = type(["日".repeat(20), HOME]);
  assertEquals(view(wide.state, 12, "> ").text, "> " + "日".repeat(4));
});

Deno.test("view: control characters are shown escaped", () => {
  const r = type(["\x1b[200~a\nb\x1b[201~"]);
  assertEquals(view(r.state, 80, "> "), { text: "> a\\nb", col: 6 });
});
