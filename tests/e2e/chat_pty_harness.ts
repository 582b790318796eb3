/**
 * Runs a command under a pseudo-terminal (Deno has no pty API: a small python3 `pty` relay),
 * so that `schied chat` sees a terminal: keystrokes written to `type` arrive as a terminal's
 * input, everything the command writes (stdout and stderr) is collected in `out`.
 *
 * @module
 */
import { waitFor } from "../harness.ts";

const RELAY = String.raw`
import errno, fcntl, os, pty, select, signal, struct, sys, termios
cols, rows = int(sys.argv[1]), int(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    os.execvp(sys.argv[3], sys.argv[3:])
signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGTERM))
os.set_blocking(fd, False)
inp, out, pending, open_in = sys.stdin.fileno(), sys.stdout.fileno(), b"", True
while True:
    try:
        r, w, _ = select.select([fd] + ([inp] if open_in else []), [fd] if pending else [], [], 1)
    except InterruptedError:
        continue
    if fd in r:
        try:
            data = os.read(fd, 65536)
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            data = b""
        if not data:
            break
        os.write(out, data)
    if inp in r:
        data = os.read(inp, 65536)
        open_in = bool(data)
        pending += data
    if fd in w and pending:
        try:
            pending = pending[os.write(fd, pending):]
        except BlockingIOError:
            pass
_, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
`;

/** A command running under a pseudo-terminal. */
export interface PtyProcess {
  /** Everything it wrote so far, raw (escape sequences included). */
  readonly raw: () => string;
  /** Types `keys` (a string or bytes) as a terminal would send them. */
  type(keys: string | Uint8Array): Promise<void>;
  /** Waits until the screen text (see screenLines) has a line matching `re`. */
  waitLine(re: RegExp, what: string, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  /** SIGTERM to the command (through the relay), then waits for the exit. */
  stop(): Promise<number>;
}

/** Starts `cmd args…` under a pty of `cols`×`rows`. */
export function spawnPty(
  cmd: string,
  args: string[],
  o: { env?: Record<string, string>; cols?: number; rows?: number } = {},
): PtyProcess {
  const child = new Deno.Command("python3", {
    args: ["-c", RELAY, String(o.cols ?? 80), String(o.rows ?? 24), cmd, ...args],
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", TERM: "xterm", ...o.env },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let raw = "";
  const dec = new TextDecoder();
  const pump = (async () => {
    for await (const chunk of child.stdout) raw += dec.decode(chunk, { stream: true });
  })();
  const writer = child.stdin.getWriter();
  const exited = Promise.all([child.status, pump]).then(([s]) => s.code);
  return {
    raw: () => raw,
    async type(keys) {
      await writer.write(typeof keys === "string" ? new TextEncoder().encode(keys) : keys);
    },
    waitLine: (re, what, timeoutMs = 15_000) =>
      waitFor(() => screenLines(raw).find((l) => re.test(l)), what, timeoutMs),
    exited,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await writer.close().catch(() => {});
      return await exited;
    },
  };
}

/**
 * The lines a terminal would show for `raw`, roughly: escape sequences dropped, each line what
 * follows its last carriage return.
 */
export function screenLines(raw: string): string[] {
  // deno-lint-ignore no-control-regex
  const text = raw.replace(/\x1b\[[0-9;?]*[A-Za-z~]/g, "").replace(/\x07/g, "");
  return text.split("\n").map((l) => {
    const parts = l.replace(/\r+$/, "").split("\r");
    return parts[parts.length - 1]!;
  });
}
