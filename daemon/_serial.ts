/**
 * A serial queue: async tasks run one at a time, in order. The daemon runs every change of
 * session or database state through one, so a transaction never interleaves with another.
 *
 * @module
 */

/** Runs tasks one after another. */
export class Serial {
  #tail: Promise<unknown> = Promise.resolve();

  /**
   * Queues `fn`; resolves or rejects with its result.
   *
   * @example
   * ```ts
   * await serial.run(async () => { … });
   * ```
   */
  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const p = this.#tail.then(fn, fn);
    this.#tail = p.catch(() => {});
    return p;
  }
}
