/**
 * Waiting for the end of a long-running verb.
 *
 * @module
 */

/**
 * Resolves at the first SIGINT or SIGTERM, then stops listening for them.
 *
 * @example
 * ```ts
 * await untilSignal();
 * await server.close();
 * ```
 */
export async function untilSignal(): Promise<void> {
  const stop = Promise.withResolvers<void>();
  const onSignal = () => stop.resolve();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    await stop.promise;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}
