/**
 * Chat's lines on their way to the daemon: each typed line waits here, in order, until the
 * daemon has taken it (its answer came) or refused it (an error a retry would not change).
 * While the daemon is away the line is kept and sent again after the reconnect, with the same
 * idempotency key, so a line whose first answer was lost is still sent once.
 *
 * @module
 */
import type { Answer } from "../api/client.ts";
import { Backoff } from "../lib/backoff.ts";
import { RECONNECT } from "./_context.ts";
import { type DaemonLink, isTransient } from "./_reconnect.ts";

/** A typed line not yet taken by the daemon. */
export interface Outgoing {
  /** The idempotency key of its send (`id` of POST /send). */
  readonly key: string;
  /** The text. */
  readonly text: string;
}

/** What the outbox needs of the daemon link (DaemonLink; tests pass a fake). */
export type Link = Pick<DaemonLink, "api" | "down" | "lost" | "up" | "whenUp" | "reconnect">;

/** What the outbox reports. */
export interface OutboxEvents {
  /** The daemon took the line: it is durable now. */
  accepted(line: Outgoing, r: Answer<"send", 202>): void;
  /** The daemon refused the line (text too long, unknown peer, …). */
  refused(line: Outgoing, error: Error): void;
  /** The number of lines waiting changed (or the daemon went away). */
  changed(waiting: number): void;
}

/** The queue of typed lines and the loop that hands them to the daemon one by one. */
export class Outbox {
  readonly #queue: Outgoing[] = [];
  #wake: (() => void) | undefined;

  /**
   * An outbox sending to `to` through `link`; `to` changes when the peer moves to a new id (a
   * rotation the daemon applied).
   */
  constructor(readonly link: Link, public to: string, readonly on: OutboxEvents) {}

  /** Queues a line. */
  push(text: string): void {
    this.#queue.push({ key: `chat-${crypto.randomUUID()}`, text });
    this.on.changed(this.#queue.length);
    this.#wake?.();
  }

  /** Lines not yet taken, oldest first. */
  get waiting(): readonly Outgoing[] {
    return this.#queue;
  }

  /** Sends until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(RECONNECT);
    signal.addEventListener("abort", () => this.#wake?.());
    while (!signal.aborted) {
      const line = this.#queue[0];
      if (!line) {
        await new Promise<void>((r) => this.#wake = r);
        this.#wake = undefined;
        continue;
      }
      try {
        const r = await this.link.api.send({ to: this.to, text: line.text, id: line.key });
        this.#queue.shift();
        backoff.reset();
        this.link.up();
        this.on.accepted(line, r);
        this.on.changed(this.#queue.length);
      } catch (e) {
        if (!isTransient(e)) {
          this.#queue.shift();
          this.on.refused(line, e as Error);
          this.on.changed(this.#queue.length);
          continue;
        }
        const n = this.#queue.length;
        this.link.lost(e, `(${n} line${n === 1 ? "" : "s"} kept, sent once it is back)`);
        this.on.changed(n);
        // Another loop (the event stream) may reconnect first: go on at once then.
        await Promise.race([backoff.wait(signal), this.link.whenUp()]);
        if (!signal.aborted && this.link.down) await this.link.reconnect();
      }
    }
  }
}
