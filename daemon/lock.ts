/**
 * The state dir's lock: one daemon (or `init`, or an offline `id --rotate`) at a time.
 *
 * `daemon.lock` is held with an exclusive flock(2) from before anything in the dir is written
 * until the process ends. The kernel drops the lock when the process dies, however it dies, so
 * there are no stale locks to clean up: a lock file left by a crashed daemon is simply taken. The
 * file holds the holder's pid, for the message the next one prints.
 *
 * @module
 */

/** File name of the lock inside the state dir. */
export const LOCK_FILE = "daemon.lock";

/** The dir is locked by another process. */
export class StateDirLocked extends Error {
  /** @param dir the state dir; @param pid the holder's pid, when it could be read */
  constructor(readonly dir: string, readonly pid: number | undefined) {
    super(`another daemon${pid ? ` (pid ${pid})` : ""} is using ${dir}`);
    this.name = "StateDirLocked";
  }
}

/** A held lock. */
export interface StateDirLock {
  /** Releases the lock (the process ending releases it too). */
  release(): void;
}

/**
 * Takes the lock of `dir`, or throws StateDirLocked at once (it never waits).
 *
 * @example
 * ```ts
 * const lock = lockStateDir("/home/me/.local/state/schied");
 * try { … } finally { lock.release(); }
 * ```
 */
export function lockStateDir(dir: string): StateDirLock {
  const path = `${dir}/${LOCK_FILE}`;
  const f = Deno.openSync(path, { read: true, write: true, create: true, mode: 0o600 });
  let locked = false;
  try {
    locked = f.tryLockSync(true);
  } catch (e) {
    f.close();
    throw e;
  }
  if (!locked) {
    f.close();
    let pid: number | undefined;
    try {
      const n = Number(Deno.readTextFileSync(path).trim());
      if (Number.isSafeInteger(n) && n > 0) pid = n;
    } catch { /* unreadable: no pid in the message */ }
    throw new StateDirLocked(dir, pid);
  }
  const text = new TextEncoder().encode(`${Deno.pid}\n`);
  f.truncateSync(0);
  f.seekSync(0, Deno.SeekMode.Start);
  let off = 0;
  while (off < text.length) off += f.writeSync(text.subarray(off));
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      try {
        f.unlockSync();
      } catch { /* closing releases it anyway */ }
      f.close();
    },
  };
}
