/**
 * What the daemon offers its local API: the one interface between api/ and daemon/.
 * The API layer (api/app.ts) maps HTTP to these calls; tests can pass a fake. The data types are
 * inferred from the API's schemas (api/schemas.ts), so the two cannot drift apart.
 *
 * @module
 */

import type { z } from "zod";
import type * as S from "../api/schemas.ts";
import type { EventData, EventType, JournalEvent } from "../api/schemas.ts";

export type { EventData, EventType, JournalEvent };

/**
 * Stable error codes the daemon raises (api/errors.ts maps them, and the HTTP layer's own, to
 * statuses). What a request means is checked here; its HTTP shape is the API's.
 */
export type ServiceErrorCode =
  | "bad_request"
  | "not_found"
  | "recipient_unknown"
  | "text_too_long"
  | "text_empty"
  | "contact_exists"
  | "name_taken"
  | "key_mismatch"
  | "key_changed"
  | "idempotency_conflict"
  | "already_delivered"
  | "busy"
  | "file_too_large"
  | "file_not_ready"
  | "range_not_satisfiable"
  | "internal";

/** What a client is told to wait (seconds) when the daemon answers `busy`. */
export const BUSY_RETRY_AFTER_S = 5;

/**
 * How long a client is told to wait when sends are refused because too many are in progress
 * (MAX_SENDS_IN_FLIGHT): a load spike, over within about a second, unlike a full outbox.
 */
export const OVERLOAD_RETRY_AFTER_S = 1;

/** An error the service raises with a stable code; the API maps it through its table. */
export class ServiceError extends Error {
  /**
   * Makes an error with a code and a message for humans; `retryAfterS` overrides what a `busy`
   * answer's Retry-After says (BUSY_RETRY_AFTER_S).
   */
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = "ServiceError";
  }
}

/**
 * Delivery states of an outgoing message: queued → sent → delivered, or failed (with a reason:
 * the give-up time, `recipient_unknown`, `cancelled`, a block).
 */
export type MessageStatus = z.infer<typeof S.MessageStatus>;

/** The relay connection state. */
export type RelayState = z.infer<typeof S.RelayState>;

/** One message, incoming or outgoing, as the API shows it (api/schemas.ts describes it). */
export type MessageRecord = z.infer<typeof S.MessageRecord>;

/** One file, sent or received (api/schemas.ts describes it). */
export type FileRecord = z.infer<typeof S.FileRecord>;

/** A file sent to a group: its transfers, one per other member. */
export type GroupFiles = z.infer<typeof S.GroupFiles>;

/** A group (api/schemas.ts describes it). */
export type GroupRecord = z.infer<typeof S.Group>;

/** A contact. */
export type Contact = z.infer<typeof S.Contact>;

/** A message request: an id that wrote first and is not a contact (yet). */
export type MessageRequest = z.infer<typeof S.MessageRequest>;

/** What /status shows. */
export type DaemonStatus = z.infer<typeof S.DaemonStatus>;

/** What /me shows. */
export type Me = z.infer<typeof S.Me>;

/** Which messages `messages` lists. */
export interface MessagesQuery {
  /** Only with this peer (id or contact name), or this group (name or id). */
  with?: string;
  /** After this journal position. */
  since?: number;
  /** Stored at or after this time (ms since epoch; the daemon's clock, not the sender's). */
  sinceTs?: number;
  /** At most this many (default 100). */
  limit?: number;
  /** `asc` oldest first (default), `desc` newest first. */
  order?: "asc" | "desc";
}

/** The daemon as the API sees it. */
export interface DaemonService {
  me(): Me;
  status(): DaemonStatus;
  /**
   * Accepts a message: durable before it resolves. `to` is an id or a contact name; the text must
   * not be empty or only white space (text_empty), nor too long (text_too_long); an idempotency
   * key has 1–128 printable ASCII characters.
   */
  send(req: { to: string; text: string; idempotencyKey?: string }): Promise<MessageRecord>;
  /**
   * Throws `busy` when a send now would be refused for load (too many in progress), so that the
   * API can answer before it reads and validates the body: under overload a refusal must cost
   * far less than an acceptance, or refusing is itself the overload.
   */
  checkSendCapacity?(): void;
  /** A message by id. */
  message(id: string): MessageRecord;
  /**
   * Cancels an outgoing message not yet delivered: it becomes `failed` with reason `cancelled`
   * and is never sent again (a copy already handed to the relay may still arrive). A message that
   * failed already is answered as it is; not_found, bad_request (incoming), already_delivered.
   */
  cancelMessage(id: string): Promise<MessageRecord>;
  /** Messages, oldest first, optionally with one peer (id or name), after a journal position. */
  messages(q: MessagesQuery): MessageRecord[];
  contacts(): Contact[];
  addContact(req: { id: string; name?: string }): Promise<Contact>;
  removeContact(idOrName: string): Promise<void>;
  verifyContact(idOrName: string, verified: boolean): Promise<Contact>;
  /** Pending message requests, oldest first. */
  requests(): MessageRequest[];
  /** Accepts a request: the id becomes a contact (optionally named); its messages stay. */
  acceptRequest(req: { id: string; name?: string }): Promise<Contact>;
  /** Declines a request: it and its messages are forgotten (the id may write again). */
  declineRequest(id: string): Promise<void>;
  /** Blocks an id (or a contact's name): its envelopes are dropped before any work. */
  block(idOrName: string): Promise<{ id: string }>;
  /** Unblocks an id: it is a stranger again. */
  unblock(id: string): Promise<void>;
  /** Blocked ids. */
  blocked(): string[];
  /** Makes a new identity; the old one is kept as retired until removed. */
  rotateIdentity(): Promise<Me>;
  /** Removes a retired identity for good (its keys are deleted). */
  removeRetired(id: string): Promise<Me>;
  /** Events after `since` (exclusive), oldest first, at most `limit`. */
  eventsSince(since: number, limit: number): JournalEvent[];
  /** The newest event id (0 if none). */
  lastEventId(): number;
  /** The id of the last event before time `ts` (ms), 0 if none: `since` for "from `ts` on". */
  eventBefore(ts: number): number;
  /**
   * Accepts a file to send: sealed into the daemon's file store and offered, durable before it
   * resolves. `size` (a declared length) over the maximum is refused before any byte is read
   * (file_too_large), as is a body that turns out longer (its partial copy deleted).
   */
  sendFile(req: {
    to: string;
    name: string;
    type?: string;
    size?: number;
    body: ReadableStream<Uint8Array>;
  }): Promise<FileRecord | GroupFiles>;
  /** The largest file this daemon sends or takes. */
  fileLimits(): { maxFileBytes: number };
  /** Files, newest first, optionally with one peer. */
  files(q: { with?: string; limit?: number }): FileRecord[];
  /** A file by id; not_found. */
  file(id: string): FileRecord;
  /** Accepts a file held from a non-contact: it is received. */
  acceptFile(id: string): Promise<FileRecord>;
  /** Cancels, declines or deletes a file (its bytes leave the disk). */
  deleteFile(id: string): Promise<FileRecord>;
  /** Bytes `[start, end]` (all by default) of a received file; file_not_ready before. */
  fileContent(
    id: string,
    range?: { start: number; end: number },
  ): { file: FileRecord; body: ReadableStream<Uint8Array> };
  /**
   * Creates a group with this identity as its admin and `members` (ids or contact names): its
   * first change statement is signed and sent to each. `send` takes its name or id as `to`.
   */
  createGroup(req: { name: string; members: string[] }): Promise<GroupRecord>;
  /** Every group known, those this identity left or was removed from included. */
  groups(): GroupRecord[];
  /** A group by name or id; not_found. */
  group(idOrName: string): GroupRecord;
  /** Adds members (or makes members admins, with `admin`): a signed change (admins only). */
  addGroupMembers(idOrName: string, req: { members: string[]; admin?: boolean }): Promise<
    GroupRecord
  >;
  /** Removes a member: a signed change (admins only); it receives nothing sent afterwards. */
  removeGroupMember(idOrName: string, member: string): Promise<GroupRecord>;
  /** Names a group for this identity (null: no name); name_taken, not_found. */
  nameGroup(idOrName: string, name: string | null): Promise<GroupRecord>;
  /** Leaves a group: a change signed by this identity, which then receives nothing of it. */
  leaveGroup(idOrName: string): Promise<GroupRecord>;
  /** Calls `fn` for each new event; returns an unsubscribe function. */
  subscribe(fn: (e: JournalEvent) => void): () => void;
}
