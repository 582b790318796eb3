/**
 * Chat's input and output. On a terminal: raw mode, the line editor (_editor.ts) on the last
 * row, and everything else drawn above it (clear the row, print, draw the input line again).
 * From a pipe: one line of stdin per message, output printed as it comes.
 *
 * @module
 */
import { type EditorState, feed, NEW_EDITOR, render } from "./_editor.ts";
import { TextLineStream } from "./_lines.ts";

/** What chat reads and writes. */
export interface ChatIo {
  /** True when this is the terminal line editor. */
  readonly tty: boolean;
  /** Prints a line of the conversation on stdout. */
  print(line: string): void;
  /** Prints a notice on stderr. */
  note(line: string): void;
  /** Sets the prompt of the input line. */
  setPrompt(prompt: string): void;
  /** The lines typed, until end of input (Ctrl-D) or Ctrl-C (then `interrupted`). */
  lines(): AsyncGenerator<string>;
  /** True after Ctrl-C on an empty line. */
  readonly interrupted: boolean;
  /** Gives the terminal back (cooked mode); later output is printed plainly. */
  close(): void;
}

/** A terminal editor when stdin and stdout are terminals, else plain lines. */
export function openChatIo(limit: number): ChatIo {
  if (Deno.stdin.isTerminal() && Deno.stdout.isTerminal()) return new TtyIo(limit);
  return new PipeIo();
}

class PipeIo implements ChatIo {
  readonly tty = false;
  readonly interrupted = false;
  print(line: string): void {
    console.log(line);
  }
  note(line: string): void {
    console.error(line);
  }
  setPrompt(): void {}
  async *lines(): AsyncGenerator<string> {
    const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TextLineStream(),
    );
    for await (const line of lines) if (line.trim() !== "") yield line;
  }
  close(): void {}
}

const enc = new TextEncoder();

function writeAll(f: { writeSync(p: Uint8Array): number }, text: string): void {
  let b = enc.encode(text);
  // Bounded: each round writes at least one byte or throws.
  while (b.length > 0) b = b.subarray(f.writeSync(b));
}

function listen(signal: Deno.Signal, fn: () => void): void {
  try {
    Deno.addSignalListener(signal, fn);
  } catch { /* no such signal here */ }
}

function unlisten(signal: Deno.Signal, fn: () => void): void {
  try {
    Deno.removeSignalListener(signal, fn);
  } catch { /* not added */ }
}

class TtyIo implements ChatIo {
  readonly tty = true;
  interrupted = false;
  #state: EditorState = NEW_EDITOR;
  #prompt = "> ";
  #open = true;
  readonly #onResize = () => this.#draw();
  // SIGTERM and SIGHUP end the chat like Ctrl-C: the terminal is given back, unsent lines listed.
  readonly #ended = Promise.withResolvers<"signal">();
  readonly #onEnd = () => this.#ended.resolve("signal");

  constructor(readonly limit: number) {
    Deno.stdin.setRaw(true);
    // Bracketed paste: a pasted text arrives marked, its newlines do not send it.
    writeAll(Deno.stdout, "\x1b[?2004h");
    listen("SIGWINCH", this.#onResize);
    listen("SIGTERM", this.#onEnd);
    listen("SIGHUP", this.#onEnd);
    this.#draw();
  }

  #width(): number {
    try {
      return Deno.consoleSize().columns || 80;
    } catch {
      return 80;
    }
  }

  #draw(): void {
    if (this.#open) writeAll(Deno.stdout, render(this.#state, this.#width(), this.#prompt));
  }

  #above(to: typeof Deno.stdout | typeof Deno.stderr, line: string): void {
    if (!this.#open) return writeAll(to, line + "\n");
    writeAll(Deno.stdout, "\r\x1b[2K");
    writeAll(to, line + "\r\n");
    this.#draw();
  }

  print(line: string): void {
    this.#above(Deno.stdout, line);
  }

  note(line: string): void {
    this.#above(Deno.stderr, line);
  }

  setPrompt(prompt: string): void {
    if (prompt === this.#prompt) return;
    this.#prompt = prompt;
    this.#draw();
  }

  async *lines(): AsyncGenerator<string> {
    const reader = Deno.stdin.readable.getReader();
    try {
      while (this.#open) {
        const r = await Promise.race([reader.read(), this.#ended.promise]);
        if (r === "signal") {
          this.interrupted = true;
          return;
        }
        if (r.done) return;
        const { state, actions, redraw } = feed(this.#state, r.value, this.limit);
        this.#state = state;
        if (redraw) this.#draw();
        for (const a of actions) {
          if (a.t === "submit") yield a.text;
          else if (a.t === "bell") writeAll(Deno.stdout, "\x07");
          else if (a.t === "notice") this.note(`schied: ${a.text}`);
          else if (a.t === "eof") return;
          else if (a.t === "interrupt") {
            this.interrupted = true;
            return;
          }
        }
      }
    } finally {
      reader.releaseLock();
    }
  }

  close(): void {
    if (!this.#open) return;
    writeAll(Deno.stdout, "\r\x1b[2K\x1b[?2004l");
    this.#open = false;
    unlisten("SIGWINCH", this.#onResize);
    unlisten("SIGTERM", this.#onEnd);
    unlisten("SIGHUP", this.#onEnd);
    try {
      Deno.stdin.setRaw(false);
    } catch { /* stdin went away */ }
  }
}
