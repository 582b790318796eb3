/**
 * An incremental Server-Sent Events parser, per the WHATWG event-stream rules: lines end in
 * CRLF, LF or CR (also across chunk boundaries), `:` starts a comment, one space after the
 * colon is dropped, `data:` lines join with "\n", a blank line dispatches, `id:` persists.
 *
 * @module
 */

/** One dispatched SSE message. */
export interface SseMessage {
  /** The last event id seen so far ("" if none). */
  id: string;
  /** The event type ("message" when the stream gave none). */
  event: string;
  /** The data lines, joined with "\n". */
  data: string;
}

/**
 * Parses an event stream chunk by chunk.
 *
 * @example
 * ```ts
 * const p = new SseParser();
 * p.push("id: 1\nevent: status\ndata: {}\n\n"); // [{ id: "1", event: "status", data: "{}" }]
 * ```
 */
export class SseParser {
  /** The last `retry:` value, in ms, or null. */
  retry: number | null = null;
  /** Comments seen (without the colon), when `keepComments` is set. */
  readonly comments: string[] = [];
  #pending = "";
  #skipLf = false;
  #started = false;
  #id = "";
  #event = "";
  #data: string[] = [];

  /** Makes a parser; `keepComments` records comment lines in `comments`. */
  constructor(readonly keepComments = false) {}

  /** Feeds decoded text; returns the messages it completes. */
  push(text: string): SseMessage[] {
    let s = text;
    if (!this.#started && s.length > 0) {
      this.#started = true;
      if (s.startsWith("\ufeff")) s = s.slice(1);
    }
    if (this.#skipLf && s.startsWith("\n")) s = s.slice(1);
    this.#skipLf = false;
    const out: SseMessage[] = [];
    let buf = this.#pending + s;
    let i: number;
    while ((i = buf.search(/[\r\n]/)) >= 0) {
      const line = buf.slice(0, i);
      let next = i + 1;
      if (buf[i] === "\r") {
        if (next === buf.length) this.#skipLf = true;
        else if (buf[next] === "\n") next++;
      }
      buf = buf.slice(next);
      const msg = this.#line(line);
      if (msg) out.push(msg);
    }
    this.#pending = buf;
    return out;
  }

  #line(line: string): SseMessage | null {
    if (line === "") {
      const data = this.#data;
      const event = this.#event;
      this.#data = [];
      this.#event = "";
      if (data.length === 0) return null;
      return { id: this.#id, event: event || "message", data: data.join("\n") };
    }
    if (line.startsWith(":")) {
      if (this.keepComments) this.comments.push(line.slice(1).trimStart());
      return null;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.#event = value;
    else if (field === "data") this.#data.push(value);
    else if (field === "id" && !value.includes("\0")) this.#id = value;
    else if (field === "retry" && /^[0-9]+$/.test(value)) this.retry = Number(value);
    return null;
  }
}
