/**
 * Private directories and atomic file writes, shared by the relay and the daemon. Holds no keys
 * and knows nothing of either role.
 *
 * @module
 */

/**
 * Creates `dir` (0700) if missing and tightens it to 0700 if others could read or write it.
 *
 * @example
 * ```ts
 * await ensurePrivateDir("/tmp/schied-state");
 * ```
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await Deno.stat(dir);
  if (st.mode !== null && (st.mode & 0o077) !== 0) await Deno.chmod(dir, 0o700);
}

/**
 * Writes a file atomically: a temp file with `mode` in the same dir, fsync, rename. A reader
 * sees the old or the new content, never a mix; a crash leaves at worst a stray temp file.
 *
 * @example
 * ```ts
 * await writeFileAtomic("/tmp/x/key", new TextEncoder().encode("…"), 0o600);
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  const f = await Deno.open(tmp, { write: true, createNew: true, mode });
  try {
    let off = 0;
    while (off < data.length) off += await f.write(data.subarray(off));
    await f.sync();
  } catch (e) {
    f.close();
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
  f.close();
  await Deno.chmod(tmp, mode); // the umask may have narrowed or the mode may need fixing
  await Deno.rename(tmp, path);
}

/** Reads a text file, or undefined if it does not exist. */
export async function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Throws if `path` can be read or written by group or others (for secrets). */
export async function assertPrivateFile(path: string): Promise<void> {
  const st = await Deno.stat(path);
  if (st.mode !== null && (st.mode & 0o077) !== 0) {
    throw new Error(
      `${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 on it`,
    );
  }
}

/**
 * Makes sure `path` exists with mode 0600 (creating it empty), before a library such as SQLite
 * opens it: SQLite creates its -wal and -shm files with the database file's permissions.
 *
 * @example
 * ```ts
 * await ensurePrivateFile("/tmp/x/daemon.db");
 * ```
 */
export async function ensurePrivateFile(path: string): Promise<void> {
  try {
    const f = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
    f.close();
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  const st = await Deno.stat(path);
  if (st.mode !== null && (st.mode & 0o077) !== 0) await Deno.chmod(path, 0o600);
}
