/**
 * What the daemon offers its local API: the one interface between api/ and daemon/.
 * The API layer (api/app.ts) maps HTTP to these calls; tests can pass a fake.
 *
 * @module
 */

/** Stable error codes of the daemon and its API (mapped to HTTP in api/errors.ts). */
export type ServiceErrorCode =
  | "bad_request"
  | "invalid_json"
  | "body_too_large"
  | "unauthorized"
  | "forbidden_origin"
  | "misdirected_host"
  | "not_found"
  | "recipient_unknown"
  | "recipient_ambiguous"
  | "text_too_long"
  | "text_empty"
  | "contact_exists"
  | "name_taken"
  | "key_mismatch"
  | "relay_offline"
  | "idempotency_conflict"
  | "busy"
  | "internal";

/** What a client is told to wait (seconds) when the daemon answers `busy`. */
export const BUSY_RETRY_AFTER_S = 5;

/** An error the service raises with a stable code; the API maps it through its table. */
export class ServiceError extends Error {
  /** Makes an error with a code and a message for humans. */
  constructor(readonly code: ServiceErrorCode, message: string) {
    super(message);
    this.name = "ServiceError";
  }
}

/** Delivery states of an outgoing message: queued → sent → delivered, or failed. */
export type MessageStatus = "queued" | "sent" | "delivered" | "failed";

/** The relay connection state. */
export type RelayState = "connecting" | "online" | "offline";

/** One message, incoming or outgoing, as the API shows it. */
export interface MessageRecord {
  /** The message id (UUID). */
  id: string;
  /** "in" or "out". */
  direction: "in" | "out";
  /** The peer's client_id. */
  peer: string;
  /** The peer's contact name, if any. */
  peer_name: string | null;
  /** The text. */
  text: string;
  /** Sender's clock when sent (ms since epoch) for incoming; creation time for outgoing. */
  ts: number;
  /** Per-conversation sequence number. */
  seq: number;
  /** For outgoing: its delivery state. For incoming: "delivered". */
  status: MessageStatus;
  /** Its position in the journal: pass it as `since` to page through /messages. */
  event_id: number;
  /** Why it failed, for failed messages. */
  reason?: string;
}

/** A contact. */
export interface Contact {
  /** The contact's client_id. */
  id: string;
  /** A local name (unique), or null. */
  name: string | null;
  /** The pinned identity key (base64url), once known. */
  identity_key: string | null;
  /** True once the user compared the safety number out of band. */
  verified: boolean;
  /** Online, per the relay's presence, or null when unknown. */
  online: boolean | null;
  /** A short safety number to compare out of band, once the key is known. */
  safety_number: string | null;
}

/** A message request: an id that wrote first and is not a contact (yet). */
export interface MessageRequest {
  /** The requester's client_id. */
  id: string;
  /** Its identity key (base64url), once a handshake pinned it. */
  identity_key: string | null;
  /** The safety number with it, once its key is known. */
  safety_number: string | null;
  /** When it first wrote (ms since epoch). */
  received_at: number;
  /** Messages kept from it. */
  messages: number;
  /** The text of its latest message, if any. */
  last_text: string | null;
}

/** A journal event, as streamed on /events. */
export interface JournalEvent {
  /** Monotonic event id. */
  id: number;
  /** Event type (`request`: a message from an id that is not a contact). */
  type: "message" | "request" | "status" | "presence" | "relay" | "error";
  /** One-line JSON-able data. */
  data: Record<string, unknown>;
}

/** What /status shows. */
export interface DaemonStatus {
  version: string;
  id: string;
  relay: { address: string | null; state: RelayState };
  outbox: { size: number; oldest: number | null };
  sessions: number;
  contacts: number;
  uptime_ms: number;
  /** The newest journal event id (for consumers that start streaming from now). */
  last_event_id: number;
}

/** What /me shows. */
export interface Me {
  id: string;
  identity_key: string;
  safety_number: string;
  relay: string | null;
  retired: { id: string; identity_key: string }[];
}

/** The daemon as the API sees it. */
export interface DaemonService {
  me(): Me;
  status(): DaemonStatus;
  /** Accepts a message: durable before it resolves. `to` is an id or a contact name. */
  send(req: { to: string; text: string; idempotencyKey?: string }): Promise<MessageRecord>;
  /** A message by id. */
  message(id: string): MessageRecord;
  /** Messages, oldest first, optionally with one peer (id or name), after a journal position. */
  messages(q: { with?: string; since?: number; limit?: number }): MessageRecord[];
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
  /** Calls `fn` for each new event; returns an unsubscribe function. */
  subscribe(fn: (e: JournalEvent) => void): () => void;
}
