/**
 * Message requests and blocking, across the tables they touch: a stranger who writes first
 * becomes a request (the oldest dropped beyond MAX_REQUESTS, with its messages and sessions); a
 * request is accepted (a contact), declined (forgotten) or blocked (its envelopes dropped before
 * any work from then on).
 *
 * @module
 */
import { toBase64Url } from "../protocol/bytes.ts";
import { formatId, parseId } from "../protocol/identity.ts";
import { Contacts } from "./contacts.ts";
import type { Messages, PendingMessage } from "./messages.ts";
import type { Outbox } from "./outbox.ts";
import { type MessageRequest, ServiceError } from "./service.ts";
import type { SessionManager } from "./sessions.ts";

/** What requests need of the daemon (all calls run inside a store operation). */
export interface RequestDeps {
  contacts: Contacts;
  messages: Messages;
  sessions: SessionManager;
  outbox: Outbox;
  /** This identity's public key (for safety numbers). */
  myKey: () => Uint8Array;
}

/** Requests and blocks of one identity. */
export class Requests {
  /** Binds to the daemon's stores. */
  constructor(readonly d: RequestDeps) {}

  /** A stranger reached us (a handshake or a message): it becomes a request. */
  admit(peer: string): void {
    const { dropped } = this.d.contacts.request(peer);
    if (dropped) this.#forget(dropped);
  }

  #forget(peer: string): void {
    this.d.messages.forgetIncoming(peer);
    this.d.sessions.forget(peer);
  }

  /** Pending requests, oldest first. */
  list(): MessageRequest[] {
    return this.d.contacts.list("request").map((c) => ({
      id: c.id,
      identity_key: c.identityKey ? toBase64Url(c.identityKey) : null,
      safety_number: Contacts.safety(this.d.myKey(), c),
      received_at: c.addedAt,
      messages: this.d.messages.countFrom(c.id),
      last_text: this.d.messages.lastFrom(c.id),
    }));
  }

  /** The id text of a pending request; throws bad_request or not_found. */
  check(id: string): string {
    const idText = normalize(id);
    if (this.d.contacts.kindOf(idText) !== "request") {
      throw new ServiceError("not_found", `No message request from ${idText}`);
    }
    return idText;
  }

  /** Declines a request: it, its messages and sessions are forgotten. */
  decline(id: string): void {
    const idText = normalize(id);
    if (!this.d.contacts.forgetRequest(idText)) {
      throw new ServiceError("not_found", `No message request from ${idText}`);
    }
    this.#forget(idText);
  }

  /**
   * Blocks an id or a contact's name. A request's or stranger's messages are forgotten (a
   * contact's history is kept); sessions go; undelivered messages to it fail (returned, for the
   * caller to drop from the outbox once this has committed).
   */
  block(idOrName: string): { id: string; failed: PendingMessage[] } {
    const id = this.d.contacts.resolve(idOrName);
    const kind = this.d.contacts.kindOf(id);
    this.d.contacts.block(id);
    if (kind !== "contact") this.d.messages.forgetIncoming(id);
    this.d.sessions.forget(id);
    const failed = this.d.outbox.pending(id, 0, Number.MAX_SAFE_INTEGER);
    for (const m of failed) this.d.messages.markFailed(m, "the recipient is blocked");
    return { id, failed };
  }

  /** Unblocks an id. */
  unblock(id: string): void {
    const idText = normalize(id);
    if (!this.d.contacts.unblock(idText)) {
      throw new ServiceError("not_found", `${idText} is not blocked`);
    }
  }
}

function normalize(id: string): string {
  try {
    return formatId(parseId(id));
  } catch (e) {
    throw new ServiceError("bad_request", (e as Error).message);
  }
}
