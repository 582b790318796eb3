/**
 * Terminal input bytes (raw mode) into keys: text, control keys, CSI/SS3 escape sequences
 * (arrows, home/end, delete, Ctrl-arrows) and bracketed pastes. Pure: the bytes of an
 * unfinished sequence or UTF-8 character are kept in the state for the next chunk.
 *
 * @module
 */

/** A key the line editor acts on. */
export type KeyName =
  | "enter"
  | "backspace"
  | "delete"
  | "left"
  | "right"
  | "up"
  | "down"
  | "home"
  | "end"
  | "word-left"
  | "word-right"
  | "kill-start"
  | "kill-end"
  | "kill-word"
  | "interrupt"
  | "ctrl-d"
  | "redraw";

/** One decoded key: typed text, a bracketed paste (any bytes, newlines kept), or a key. */
export type Key =
  | { t: "text"; s: string }
  | { t: "paste"; s: string; dropped: number }
  | { t: "key"; k: KeyName };

/** What the decoder keeps between chunks. */
export interface KeyDecoder {
  /** Bytes of an unfinished escape sequence or UTF-8 character. */
  readonly pending: Uint8Array;
  /** Inside a bracketed paste: its bytes so far, and how many were dropped past the cap. */
  readonly paste: { chunks: Uint8Array[]; size: number; dropped: number } | null;
}

/** A decoder with nothing pending. */
export const NEW_DECODER: KeyDecoder = { pending: new Uint8Array(0), paste: null };

/** The most bytes a bracketed paste keeps (the rest is counted as dropped). */
export const PASTE_CAP = 256 * 1024;

const CONTROL: Record<number, KeyName> = {
  0x01: "home",
  0x02: "left",
  0x03: "interrupt",
  0x04: "ctrl-d",
  0x05: "end",
  0x06: "right",
  0x08: "backspace",
  0x0a: "enter",
  0x0b: "kill-end",
  0x0c: "redraw",
  0x0d: "enter",
  0x0e: "down",
  0x10: "up",
  0x15: "kill-start",
  0x17: "kill-word",
  0x7f: "backspace",
};

const CSI_FINAL: Record<string, KeyName> = {
  A: "up",
  B: "down",
  C: "right",
  D: "left",
  H: "home",
  F: "end",
};

const TILDE: Record<string, KeyName> = {
  "1": "home",
  "7": "home",
  "4": "end",
  "8": "end",
  "3": "delete",
};

const PASTE_END = [0x1b, 0x5b, 0x32, 0x30, 0x31, 0x7e]; // ESC [ 2 0 1 ~

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Length of a trailing incomplete UTF-8 sequence of `buf[from..]` (0 when complete). */
function incompleteTail(buf: Uint8Array, from: number): number {
  for (let back = 1; back <= 3 && buf.length - back >= from; back++) {
    const b = buf[buf.length - back]!;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/** Where PASTE_END starts in `buf` at or after `from`, or -1. */
function findPasteEnd(buf: Uint8Array, from: number): number {
  outer: for (let i = from; i + PASTE_END.length <= buf.length; i++) {
    for (let j = 0; j < PASTE_END.length; j++) if (buf[i + j] !== PASTE_END[j]) continue outer;
    return i;
  }
  return -1;
}

/** Decodes `bytes` (after what `dec` kept) into keys. */
export function decodeKeys(dec: KeyDecoder, bytes: Uint8Array): { dec: KeyDecoder; keys: Key[] } {
  const buf = concat(dec.pending, bytes);
  const keys: Key[] = [];
  const utf8 = new TextDecoder();
  const push = (k: Key) => {
    const last = keys[keys.length - 1];
    if (k.t === "text" && last?.t === "text") {
      keys[keys.length - 1] = { t: "text", s: last.s + k.s };
    } else keys.push(k);
  };
  let paste = dec.paste;
  let i = 0;
  const keep = (from: number) => ({ dec: { pending: buf.slice(from), paste }, keys });
  while (i < buf.length) {
    if (paste) {
      const end = findPasteEnd(buf, i);
      // Without the end marker, keep a tail that may be its beginning for the next chunk.
      const stop = end >= 0 ? end : Math.max(i, buf.length - (PASTE_END.length - 1));
      const part = buf.subarray(i, stop);
      const room = Math.max(0, PASTE_CAP - paste.size);
      const kept = part.subarray(0, room);
      paste = {
        chunks: kept.length ? [...paste.chunks, kept.slice()] : paste.chunks,
        size: paste.size + kept.length,
        dropped: paste.dropped + part.length - kept.length,
      };
      if (end < 0) return keep(stop);
      const all = paste.chunks.reduce((a, c) => concat(a, c), new Uint8Array(0));
      push({ t: "paste", s: utf8.decode(all), dropped: paste.dropped });
      paste = null;
      i = end + PASTE_END.length;
      continue;
    }
    const b = buf[i]!;
    if (b === 0x1b) {
      if (i + 1 >= buf.length) return keep(i);
      const n = buf[i + 1]!;
      if (n === 0x5b) { // CSI: parameters, intermediates, one final byte
        let j = i + 2;
        while (j < buf.length && buf[j]! >= 0x20 && buf[j]! <= 0x3f) j++;
        if (j >= buf.length) return keep(i);
        const params = String.fromCharCode(...buf.subarray(i + 2, j));
        const final = String.fromCharCode(buf[j]!);
        i = j + 1;
        if (final === "~" && params === "200") {
          paste = { chunks: [], size: 0, dropped: 0 };
        } else if (final === "~") {
          const k = TILDE[params.split(";")[0]!];
          if (k) push({ t: "key", k });
        } else if (CSI_FINAL[final]) {
          const ctrl = /;[35]$/.test(params); // Ctrl- or Alt-arrow: a word at a time
          const k = CSI_FINAL[final]!;
          push({
            t: "key",
            k: ctrl && k === "left" ? "word-left" : ctrl && k === "right" ? "word-right" : k,
          });
        }
        continue;
      }
      if (n === 0x4f) { // SS3: one more byte
        if (i + 2 >= buf.length) return keep(i);
        const k = CSI_FINAL[String.fromCharCode(buf[i + 2]!)];
        if (k) push({ t: "key", k });
        i += 3;
        continue;
      }
      // Alt-key: Alt-b/f move by word, Alt-Backspace deletes one; else the ESC is dropped.
      const alt: Record<number, KeyName> = {
        0x62: "word-left",
        0x66: "word-right",
        0x7f: "kill-word",
      };
      if (alt[n]) {
        push({ t: "key", k: alt[n]! });
        i += 2;
      } else i += 1;
      continue;
    }
    if (b < 0x20 || b === 0x7f) {
      // \r\n is one Enter.
      if (!(b === 0x0a && i > 0 && buf[i - 1] === 0x0d)) {
        if (b === 0x09) push({ t: "text", s: "\t" });
        else if (CONTROL[b]) push({ t: "key", k: CONTROL[b]! });
      }
      i++;
      continue;
    }
    let j = i;
    while (j < buf.length && buf[j]! >= 0x20 && buf[j] !== 0x7f && buf[j] !== 0x1b) j++;
    const cut = j === buf.length ? incompleteTail(buf, i) : 0;
    if (j - cut > i) push({ t: "text", s: utf8.decode(buf.subarray(i, j - cut)) });
    if (cut > 0) return keep(j - cut);
    i = j;
  }
  return { dec: { pending: new Uint8Array(0), paste }, keys };
}
