/**
 * The answers to one session's SENDs, in SEND order. A route may be answered later (a cluster
 * node asks Redis, protocol/README.md section 9.2): version 2's cumulative ACK says "every SEND
 * up to `seq` without a RESULT was delivered", so no answer may overtake an earlier SEND whose
 * route is still open. Answers known at once, with nothing open before them, go out at once.
 *
 * @module
 */
import type { ErrorCode } from "../protocol/errors.ts";
import type { MaybePromise, RouteResult } from "./router.ts";

/** A SEND's answer: delivered (ACK or RESULT), or a RESULT with a status and code. */
export interface SendAnswer {
  seq: number;
  status: "delivered" | "offline" | "rejected";
  code: ErrorCode | null;
  /** The envelope's bytes (for the byte counter). */
  bytes: number;
}

/**
 * Most SENDs of one session whose route is still open. Why 4,096: a daemon keeps at most a few
 * hundred in flight (its link's room), and each entry is a few dozen bytes; past it a SEND is
 * refused `recipient_busy`, as when a recipient's queue is full, and the sender retries.
 */
export const MAX_OPEN_ROUTES = 4096;

function answerOf(seq: number, r: RouteResult, bytes: number): SendAnswer {
  if (r === "busy") return { seq, status: "rejected", code: "recipient_busy", bytes };
  return { seq, status: r, code: null, bytes };
}

/** Orders one session's answers. */
export class SendAnswers {
  readonly #emit: (a: SendAnswer) => void;
  #open: ({ answer?: SendAnswer })[] = [];

  /** `emit` sends one answer (called in SEND order). */
  constructor(emit: (a: SendAnswer) => void) {
    this.#emit = emit;
  }

  /** Routes still open. */
  get pending(): number {
    return this.#open.length;
  }

  /** Answers SEND `seq` with a known answer (a refusal before routing). */
  now(a: SendAnswer): void {
    if (this.#open.length === 0) return this.#emit(a);
    this.#open.push({ answer: a });
  }

  /** Answers SEND `seq` with its route's result, now or when it settles. */
  route(seq: number, r: MaybePromise<RouteResult>, bytes: number): void {
    if (!(r instanceof Promise)) return this.now(answerOf(seq, r, bytes));
    if (this.#open.length >= MAX_OPEN_ROUTES) {
      // Refused, but in order: behind the open ones.
      void r.catch(() => {}); // its outcome no longer matters to this SEND's answer
      return this.now({ seq, status: "rejected", code: "recipient_busy", bytes });
    }
    const slot: { answer?: SendAnswer } = {};
    this.#open.push(slot);
    r.then(
      (x) => (slot.answer = answerOf(seq, x, bytes)),
      // Redis did not answer: a transient refusal, retried after RETRY_MS (not "offline", which
      // would make the daemon wait for the peer's presence).
      () => (slot.answer = { seq, status: "rejected", code: "recipient_busy", bytes }),
    ).then(() => this.#drain());
  }

  #drain(): void {
    while (this.#open.length > 0 && this.#open[0]!.answer) this.#emit(this.#open.shift()!.answer!);
  }
}
