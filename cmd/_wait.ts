/**
 * Waiting for delivery: follows the daemon's journal from a position taken before the sends and
 * settles once every message of a set is delivered or failed, or the time is up. `send --wait`
 * uses it; the journal (not polling) so a status that comes before the send's answer is seen.
 *
 * @module
 */
import type { ApiClient } from "../api/client.ts";

/** How a set of messages ended up. */
export interface WaitResult {
  /** Delivered ids. */
  delivered: string[];
  /** Failed ids with the reason. */
  failed: { id: string; reason: string }[];
  /** Still queued or sent when the time ran out. */
  pending: string[];
}

/**
 * A watcher of delivery statuses from journal position `since` on; `track` adds ids as their
 * sends are answered, `settle` waits (at most `timeoutMs`) for all of them.
 */
export class DeliveryWaiter {
  readonly #final = new Map<string, { s: "delivered" | "failed"; reason: string }>();
  readonly #ids = new Set<string>();
  readonly #stop = new AbortController();
  #wake: (() => void) | undefined;
  #broken: Error | undefined;
  readonly #done: Promise<void>;

  /** Starts following the journal after `since`. */
  constructor(readonly api: ApiClient, since: number) {
    this.#done = (async () => {
      try {
        for await (const e of api.events({ since, signal: this.#stop.signal })) {
          if (e.type !== "status") continue;
          const d = e.data;
          if (d.status === "delivered" || d.status === "failed") {
            this.#final.set(d.id, { s: d.status, reason: d.reason ?? "" });
            this.#wake?.();
          }
        }
      } catch (e) {
        if (!this.#stop.signal.aborted) this.#broken = e as Error;
      }
      this.#wake?.();
    })();
  }

  /** Adds a message to wait for. */
  track(id: string): void {
    this.#ids.add(id);
  }

  /**
   * Resolves when every tracked message is delivered or failed, or after `timeoutMs`; throws
   * the stream's error if the daemon went away meanwhile.
   */
  async settle(timeoutMs: number): Promise<WaitResult> {
    const end = Date.now() + timeoutMs;
    while (!this.#allFinal() && !this.#broken && Date.now() < end) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, end - Date.now());
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    this.#stop.abort();
    await this.#done;
    if (this.#broken && !this.#allFinal()) throw this.#broken;
    const r: WaitResult = { delivered: [], failed: [], pending: [] };
    for (const id of this.#ids) {
      const f = this.#final.get(id);
      if (!f) r.pending.push(id);
      else if (f.s === "delivered") r.delivered.push(id);
      else r.failed.push({ id, reason: f.reason });
    }
    return r;
  }

  #allFinal(): boolean {
    for (const id of this.#ids) if (!this.#final.has(id)) return false;
    return true;
  }
}
