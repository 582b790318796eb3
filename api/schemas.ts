/**
 * The local API's data, described once as zod schemas: the daemon's service types are inferred
 * from them (daemon/service.ts), the routes validate requests with them (routes.ts), the OpenAPI
 * document is generated from them, and the client's types follow from the routes.
 *
 * A neutral module: it imports zod (with its OpenAPI metadata) and nothing of this project, so
 * both the daemon and the API can depend on it. It describes shapes and types only; what a value
 * means (an empty text, a name's letters, an id's syntax) is the daemon's to check.
 *
 * @module
 */
import { z } from "@hono/zod-openapi";

/** Longest `to` or `with` (a client id or a contact name) the API takes. */
export const MAX_TO_LEN = 256;

const id = z.string().openapi({ description: "A client id (lowercase UUID)" });
const nullableKey = z.string().nullable().openapi({ description: "Base64url, once known" });
const ms = z.number().int().openapi({ description: "Milliseconds since the epoch" });

/** Delivery states of an outgoing message: queued → sent → delivered, or failed. */
export const MessageStatus = z.enum(["queued", "sent", "delivered", "failed"]);

/** The relay connection's state. */
export const RelayState = z.enum(["connecting", "online", "offline"]);

/** One message, incoming or outgoing. */
export const MessageRecord = z.object({
  id: z.string().openapi({ description: "The message id (UUID)" }),
  direction: z.enum(["in", "out"]),
  peer: id,
  peer_name: z.string().nullable().openapi({ description: "The peer's contact name, if any" }),
  text: z.string(),
  ts: ms.openapi({ description: "Sender's clock (incoming) or creation time (outgoing), ms" }),
  seq: z.number().int().openapi({ description: "Per-conversation sequence number" }),
  status: MessageStatus.openapi({ description: "Incoming messages are `delivered`" }),
  event_id: z.number().int().openapi({ description: "Journal position: pass as `since` to page" }),
  reason: z.string().optional().openapi({ description: "Why it failed (failed messages)" }),
  group: z.string().optional().openapi({
    description: "A group message: the group id (for one you sent, `peer` is the group id too)",
  }),
  members: z.array(z.object({ id, status: MessageStatus })).optional().openapi({
    description: "A group message you sent: each member's copy (delivered: its daemon " +
      "acknowledged it); the message is delivered when every copy is",
  }),
}).openapi("MessageRecord");

/** A group (protocol/README.md, section 11.11). */
export const Group = z.object({
  id: z.string().openapi({ description: "The group id (32 hex digits), the same for everyone" }),
  name: z.string().nullable().openapi({ description: "Your local name for it" }),
  epoch: z.number().int().openapi({ description: "The last membership change applied" }),
  members: z.array(id),
  admins: z.array(id),
  state: z.enum(["member", "removed", "left"]).openapi({
    description: "member; removed (an admin removed you); left (you left)",
  }),
}).openapi("Group");

/** `POST /groups`'s body. */
export const GroupCreate = z.object({
  name: z.string().openapi({ description: "A local name, like a contact name" }),
  members: z.array(z.string().max(MAX_TO_LEN)).max(99).openapi({
    description: "Client ids or contact names (you are a member and the admin)",
  }),
}).openapi("GroupCreate");

/** `PUT /groups/{id}/name`'s body. */
export const GroupName = z.object({
  name: z.string().nullable().openapi({ description: "Your name for it (null: none)" }),
}).openapi("GroupName");

/** `POST /groups/{id}/members`'s body. */
export const GroupAdd = z.object({
  members: z.array(z.string().max(MAX_TO_LEN)).min(1).max(99).openapi({
    description: "Client ids or contact names to add (members already: made admins with admin)",
  }),
  admin: z.boolean().default(false).openapi({ description: "Make them admins" }),
}).openapi("GroupAdd");

/** Where a file stands (protocol/README.md, section 11.10). */
export const FileState = z.enum(["offered", "held", "sending", "receiving", "complete", "failed"]);

/** One file, sent or received. */
export const FileRecord = z.object({
  id: z.string().openapi({ description: "The file id (32 hex digits), the same on both sides" }),
  direction: z.enum(["in", "out"]),
  peer: id,
  peer_name: z.string().nullable().openapi({ description: "The peer's contact name, if any" }),
  name: z.string().openapi({ description: "The sender's file name (no directory)" }),
  size: z.number().int().openapi({ description: "Bytes" }),
  type: z.string().openapi({ description: "Media type, as the sender announced it" }),
  sha256: z.string().openapi({ description: "SHA-256 of the whole file, hex" }),
  state: FileState.openapi({
    description: "out: offered (waiting for the peer to accept) → sending → complete; in: " +
      "held (from a non-contact: accept it to receive) → receiving → complete; or failed",
  }),
  bytes: z.number().int().openapi({ description: "Bytes acknowledged (out) or stored (in)" }),
  reason: z.string().optional().openapi({ description: "Why it failed (failed files)" }),
  created_at: ms,
  group: z.string().optional().openapi({
    description: "A file sent to a group (one transfer per member): the group's id",
  }),
}).openapi("FileRecord");

/** A file sent to a group: one transfer per other member, each a file of its pair. */
export const GroupFiles = z.object({
  group: z.string().openapi({ description: "The group's id" }),
  group_name: z.string().nullable().openapi({ description: "The group's local name, if any" }),
  files: z.array(FileRecord).openapi({
    description: "One file per other member (its own id and key), all of the same bytes",
  }),
}).openapi("GroupFiles");

/** One safety number per pair: contacts and requests show it, /me has none (a fingerprint). */
const pairSafetyNumber = z.string().nullable().openapi({
  description: "The safety number of this pair (your key and theirs): the same 40 digits on " +
    "both sides, to compare out of band; null until their key is known",
});

/** A contact. */
export const Contact = z.object({
  id,
  name: z.string().nullable().openapi({
    description: "A local name, unique without regard to case (as typed), or null",
  }),
  identity_key: nullableKey,
  verified: z.boolean().openapi({ description: "The safety number was compared out of band" }),
  key_changed: z.boolean().openapi({
    description: "It was verified and has rotated to a new key since: nothing is sent to it " +
      "until it is verified again (or the new key accepted unverified)",
  }),
  online: z.boolean().nullable().openapi({
    description: "Per the relay's presence; null: unknown",
  }),
  safety_number: pairSafetyNumber,
}).openapi("Contact");

/** A message request: an id that wrote first and is not a contact (yet). */
export const MessageRequest = z.object({
  id,
  identity_key: nullableKey,
  safety_number: pairSafetyNumber,
  received_at: ms.openapi({ description: "When it first wrote (ms since epoch)" }),
  messages: z.number().int().openapi({ description: "Messages kept from it" }),
  last_text: z.string().nullable().openapi({ description: "The text of its latest message" }),
}).openapi("MessageRequest");

/** This identity. */
export const Me = z.object({
  id,
  identity_key: z.string(),
  fingerprint: z.string().openapi({
    description: "A digest of your identity key (8 groups of 4 hex digits); not a safety " +
      "number, which belongs to a pair (see each contact's safety_number)",
  }),
  relay: z.string().nullable(),
  retired: z.array(z.object({ id, identity_key: z.string() })),
}).openapi("Me");

/** What /status shows. */
export const DaemonStatus = z.object({
  version: z.string(),
  id,
  relay: z.object({
    address: z.string().nullable().openapi({
      description: "The relay connected to (or being tried, or tried last); null: none configured",
    }),
    relays: z.array(z.string()).optional().openapi({
      description: "Every configured relay address, in order of preference (one for a single " +
        "relay; the daemon fails over between them); absent from older daemons",
    }),
    state: RelayState,
    last_error: z.object({
      code: z.string().nullable().openapi({ description: "The error code, or null" }),
      reason: z.string(),
      at: ms,
      hint: z.string().optional(),
    }).nullable().openapi({ description: "Why the relay is not online (null while online)" }),
  }),
  outbox: z.object({ size: z.number().int(), oldest: ms.nullable() }),
  sessions: z.number().int(),
  contacts: z.number().int(),
  uptime_ms: z.number().int(),
  last_event_id: z.number().int().openapi({ description: "The newest journal event id" }),
}).openapi("DaemonStatus");

const incoming = z.object({
  id: z.string().openapi({ description: "The message id" }),
  from: id,
  from_name: z.string().nullable(),
  text: z.string(),
  ts: ms,
  seq: z.number().int(),
  group: z.string().optional().openapi({ description: "A group message: the group id" }),
  group_name: z.string().nullable().optional().openapi({ description: "Your name for the group" }),
});

/** The `data` of each event type of the journal (`GET /events`), exactly as the daemon writes it. */
export const EVENT_DATA = {
  /** A message from a contact. */
  message: incoming.openapi("MessageEventData"),
  /** A message from an id that is not a contact (a message request). */
  request: incoming.openapi("RequestEventData"),
  /** An outgoing message changed state. */
  status: z.object({
    id: z.string().openapi({ description: "The message id" }),
    to: id,
    status: MessageStatus,
    seq: z.number().int(),
    reason: z.string().optional().openapi({ description: "Why it failed (`failed` only)" }),
    group: z.string().optional().openapi({
      description: "A group message (`to` is the group id): delivered when every member's " +
        "daemon acknowledged it; failed when a copy failed (`missing` says whose)",
    }),
    missing: z.array(id).optional(),
  }).openapi("StatusEventData"),
  /** A contact came online or went offline. */
  presence: z.object({ id, online: z.boolean() }).openapi("PresenceEventData"),
  /** The relay connection changed state; `reason` and `code` say why it closed. */
  relay: z.object({
    state: RelayState,
    reason: z.string().optional(),
    code: z.string().nullable().optional().openapi({
      description: "The relay's error code (protocol/README.md), or null",
    }),
    retry_in_ms: z.number().int().optional().openapi({
      description: "offline: when the daemon tries again (ms from now)",
    }),
  }).openapi("RelayEventData"),
  /**
   * A contact moved to a new id: its signed rotation statement (protocol/README.md, 3.1) was
   * verified against the key pinned for the old id; name, history and queued messages followed.
   */
  rotation: z.object({
    old_id: id,
    new_id: id,
    name: z.string().nullable().openapi({ description: "The contact's name, or null" }),
    identity_key: z.string().openapi({ description: "The new identity key (base64url), pinned" }),
    was_verified: z.boolean().openapi({
      description: "The contact was verified: the mark is cleared, and nothing is sent to the " +
        "new key, until the user confirms again (contacts verify, or --no)",
    }),
    text: z.string().openapi({ description: "What to tell the user" }),
    ts: ms,
  }).openapi("RotationEventData"),
  /**
   * A file's transfer moved on: `offered` (a file announced, either way), `accepted` (the peer
   * accepted ours, or we accepted theirs), `progress` (at most twice a second per file),
   * `complete` (received and verified, or acknowledged whole by the peer), `failed`.
   */
  file: z.object({
    phase: z.enum(["offered", "accepted", "progress", "complete", "failed"]),
    file: FileRecord,
  }).openapi("FileEventData"),
  /**
   * A group's membership changed (a signed change applied, section 11.11): `created` (by you),
   * `joined` (you were added), `changed`, `removed` (you were), `left` (you left).
   */
  group: z.object({
    change: z.enum(["created", "joined", "changed", "removed", "left"]),
    by: id.openapi({ description: "Who signed the change" }),
    added: z.array(id),
    removed: z.array(id),
    group: Group,
  }).openapi("GroupEventData"),
  /** Something failed in the background (a delivery, a handshake). */
  error: z.object({
    code: z.string(),
    message: z.string(),
    peer: id.nullable(),
  }).openapi("ErrorEventData"),
} as const;

/** An event type of the journal. */
export type EventType = keyof typeof EVENT_DATA;

/** The data of an event of type `T`. */
export type EventData<T extends EventType> = z.infer<(typeof EVENT_DATA)[T]>;

/** A journal event as the service hands it out: typed by `type`. */
export type JournalEvent = { [T in EventType]: { id: number; type: T; data: EventData<T> } }[
  EventType
];

const streamed = (Object.keys(EVENT_DATA) as EventType[]).map((type) =>
  z.object({
    id: z.number().int().openapi({ description: "Monotonic event id (SSE `id:`)" }),
    event: z.literal(type),
    data: EVENT_DATA[type],
  }).openapi(`${type[0]!.toUpperCase()}${type.slice(1)}Event`)
);

/** An event as streamed: one NDJSON line; in SSE, `id:`, `event:` and `data:` lines. */
export const StreamedEvent = z.discriminatedUnion(
  "event",
  streamed as unknown as [(typeof streamed)[number], ...(typeof streamed)[number][]],
).openapi("StreamedEvent");

/** `POST /send`'s body (a raw-text body is read as `{to: ?to, text: body, id: ?id}`). */
export const SendRequest = z.object({
  to: z.string().min(1).max(MAX_TO_LEN).openapi({
    description: "A client id, a contact name, or a group's name or id",
  }),
  text: z.string().openapi({ description: "Not empty or only white space" }),
  id: z.string().optional().openapi({
    description: "Idempotency key: 1-128 printable ASCII; the same key and message is one send",
  }),
}).openapi("SendRequest");

/** `POST /send`'s answer. */
export const SendResult = z.object({ id: z.string(), status: MessageStatus }).openapi(
  "SendResult",
);

const contactName = z.string().openapi({
  description: "A unique local name: 1-64 letters, digits, `.`, `_` or `-`, not an id",
});

/** `POST /contacts`'s body. */
export const ContactRequest = z.object({ id, name: contactName.optional() }).openapi(
  "ContactRequest",
);

/** `POST /requests/{id}/accept`'s body (optional). */
export const AcceptRequest = z.object({ name: contactName.optional() }).openapi("AcceptRequest");

/** `POST /contacts/{idOrName}/verify`'s body (optional). */
export const VerifyRequest = z.object({ verified: z.boolean().default(true) }).openapi(
  "VerifyRequest",
);
