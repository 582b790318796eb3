/**
 * `schied send PEER --file PATH`: streams the file to the daemon (which seals it into its file
 * store and offers it), with a progress bar on stderr when stderr is a terminal; with --wait,
 * follows the transfer (`file` events) until the peer has verified the file, or it failed.
 *
 * @module
 */
import type { ApiClient } from "../api/client.ts";
import { type FileRecord, type GroupFiles, uploadFile } from "../api/client_files.ts";
import { withApi } from "./_context.ts";
import { CliError, EXIT } from "./_output.ts";

const MIB = 1024 * 1024;

/** A progress line drawn over itself on a terminal (nothing elsewhere). */
export class ProgressBar {
  #last = 0;
  readonly #start = Date.now();

  /** Draws onto `out` when `on` (stderr is a terminal). */
  constructor(
    readonly label: string,
    readonly total: number,
    readonly on: boolean,
    readonly out = Deno.stderr,
  ) {}

  /** The bar at `done` bytes (at most ten times a second, and always at the end). */
  update(done: number): void {
    if (!this.on) return;
    const now = Date.now();
    if (now - this.#last < 100 && done < this.total) return;
    this.#last = now;
    const frac = this.total === 0 ? 1 : Math.min(1, done / this.total);
    const width = 24, fill = Math.round(frac * width);
    const rate = done / MIB / Math.max(0.001, (now - this.#start) / 1000);
    const line = `\r${this.label} [${"#".repeat(fill)}${"-".repeat(width - fill)}] ` +
      `${(frac * 100).toFixed(0).padStart(3)}% ${(done / MIB).toFixed(1)}/` +
      `${(this.total / MIB).toFixed(1)} MiB ${rate.toFixed(1)} MiB/s`;
    this.out.writeSync(new TextEncoder().encode(line));
  }

  /** Ends the line. */
  end(): void {
    if (this.on) this.out.writeSync(new TextEncoder().encode("\n"));
  }
}

/** The file at `path`, opened, with its size; a CliError (before any daemon is asked) if not. */
export async function openFile(path: string): Promise<{ file: Deno.FsFile; size: number }> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw new CliError(
      `cannot read ${path}: ${(e as Error).message}`,
      EXIT.error,
      "check the path (the launcher lets schied read only the file given to --file)",
    );
  }
  const st = await file.stat();
  if (!st.isFile) {
    file.close();
    throw new CliError(`${path} is not a regular file`, EXIT.usage, "send one file at a time");
  }
  return { file, size: st.size };
}

/**
 * Uploads the file at `path` (opened by openFile) to `to`, a peer or a group; returns what the
 * daemon accepted: the file, or a group's transfers (one per other member).
 */
export async function sendFileAt(
  api: ApiClient,
  to: string,
  path: string,
  opened: { file: Deno.FsFile; size: number },
  progress: boolean,
): Promise<FileRecord | GroupFiles> {
  const { file } = opened, st = { size: opened.size };
  const name = path.slice(path.lastIndexOf("/") + 1);
  const bar = new ProgressBar(`${name}: upload`, st.size, progress);
  let sent = 0;
  const body = file.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(piece, ctl) {
        sent += piece.length;
        bar.update(sent);
        ctl.enqueue(piece);
      },
    }),
  );
  try {
    return await withApi(() => uploadFile(api, { to, name, size: st.size, body }));
  } finally {
    bar.end();
  }
}

/**
 * Follows file `f`'s transfer from journal position `since` until it is complete (0) or failed
 * (1), or `timeoutMs` passes (5); the bar shows the bytes the peer has acknowledged.
 */
export async function followFile(
  api: ApiClient,
  f: FileRecord,
  since: number,
  timeoutMs: number,
  progress: boolean,
): Promise<number> {
  const bar = new ProgressBar(`${f.name}: transfer`, f.size, progress);
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), timeoutMs);
  try {
    for await (const e of api.events({ since, signal: stop.signal })) {
      if (e.type !== "file" || e.data.file.id !== f.id) continue;
      bar.update(e.data.file.bytes);
      if (e.data.file.state === "complete") {
        bar.end();
        return EXIT.ok;
      }
      if (e.data.file.state === "failed") {
        bar.end();
        throw new CliError(`file ${f.id} failed: ${e.data.file.reason ?? "unknown reason"}`);
      }
    }
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
  bar.end();
  throw new CliError(
    `file ${f.id} not complete within ${timeoutMs / 1000} s`,
    EXIT.relay_offline,
    "it stays queued in the daemon and goes on when the peer is reachable; " +
      "'schied files ls' shows how far it got",
  );
}
