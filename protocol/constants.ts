/**
 * Protocol names, version numbers, domain-separation labels and size limits.
 *
 * Every label that feeds a hash or a signature is a named constant here, so that a reader can
 * check in one place that no two uses share a label (domain separation, as in age).
 *
 * @module
 */

/**
 * The version of the protocol's labels and of the end-to-end layer (`schied/1`): the e2e
 * prologue carries it. The link has versions of its own (LINK_VERSIONS).
 */
export const PROTOCOL_VERSION = 1;

/**
 * Link versions this build speaks, highest first: the daemon offers them, the relay picks the
 * first of its own that was offered. Version 2 answers delivered SENDs with cumulative ACKs
 * instead of one RESULT each; version 1 is served unchanged for daemons of earlier releases.
 */
export const LINK_VERSIONS: readonly number[] = [2, 1];

/** Versions this build accepts, highest first (the link's; kept under its former name). */
export const SUPPORTED_VERSIONS: readonly number[] = LINK_VERSIONS;

/**
 * Link version 2: the most time the relay lets pass between handling a delivered SEND and
 * sending the ACK that covers it, in ms. An ACK rides along with any record the relay sends that
 * session anyway; only a session that gets nothing else for this long is sent a record holding
 * just the ACK. Why 100: measured with 200 daemon-like sessions at 25 envelopes/s each, records
 * out per envelope were 1.83 at 10 ms, 1.18 at 100 ms, 1.07 at 250 ms; 100 ms is still far below
 * anything a daemon waits for (its retry is 3 s, its offline probe 30 s).
 */
export const ACK_DELAY_MS = 100;

/** Noise protocol name of the daemon ↔ relay link. */
export const LINK_NOISE_NAME = "Noise_XK_25519_AESGCM_SHA256";

/** Domain label hashed in front of an identity public key to make its client_id. */
export const ID_LABEL = "schied/1/id";

/**
 * Prologue label of the link handshake. The prologue is this label, one byte with the number of
 * offered versions, and the offered versions; both sides mix it into the handshake hash, so a
 * man in the middle that strips a version breaks the handshake (no downgrade).
 */
export const LINK_PROLOGUE_LABEL = "schied/1/link-prologue";

/**
 * Signature label of the login: the daemon signs this label followed by the link handshake hash
 * with its Ed25519 identity key. The hash covers both ephemerals and both statics, so the
 * signature is bound to this one session and cannot be replayed or relayed elsewhere.
 */
export const LINK_AUTH_LABEL = "schied/1/link-auth";

/** Length of an Ed25519 or X25519 public key, and of a private key seed. */
export const KEY_LEN = 32;

/** Length of an Ed25519 signature. */
export const SIGNATURE_LEN = 64;

/** Length of a client_id in bytes (a UUID). */
export const ID_LEN = 16;

/** Length of an AES-GCM tag. */
export const TAG_LEN = 16;

/** Noise's own limit for one handshake message. */
export const NOISE_MAX_MESSAGE = 65535;

/** Largest end-to-end envelope a daemon may send (64 KiB). */
export const MAX_ENVELOPE = 65536;

/** Frame header: one type byte and a 32-bit big-endian body length. */
export const FRAME_HEADER_LEN = 5;

/** Largest frame body: a SEND frame with a full envelope (seq + id + envelope). */
export const MAX_FRAME_BODY = 4 + ID_LEN + MAX_ENVELOPE;

/**
 * Largest link record (plaintext). A record carries one or more frames; the WebSocket message
 * carries the record's length, so records are not held to Noise's 65535-byte framing limit.
 */
export const MAX_RECORD = 256 * 1024;

/** Largest WebSocket message either side accepts: a full record plus the AES-GCM tag. */
export const MAX_WIRE_MESSAGE = MAX_RECORD + TAG_LEN;

/**
 * Largest link handshake message: message 3 (encrypted static key 32 + 16, encrypted identity
 * key and signature 96 + 16). Message 1 is at most 1 + 16 + 48 = 65 bytes, message 2 is 49.
 * Before a login the relay accepts no bigger WebSocket message.
 */
export const LINK_MAX_HANDSHAKE_MESSAGE = 160;

/** Most ids in one WATCH or UNWATCH frame. */
export const MAX_WATCH_IDS_PER_FRAME = 256;

/** Longest reason text in an ERROR frame, in bytes. */
export const MAX_REASON_LEN = 256;

/**
 * A link is re-keyed (closed with `rekey` and re-handshaken by the daemon) after this many records
 * in one direction, or LINK_REKEY_AFTER_BYTES, whichever comes first.
 */
export const LINK_REKEY_AFTER = 2 ** 24;

/**
 * Record bytes (ciphertext) per direction before a re-key. Why 2^37: AES-GCM's advantage for
 * telling q records of s blocks in total from random is about (s + q + 1)² / 2^129 (the
 * CFRG AEAD limits draft); with s ≤ 2^37 / 16 = 2^33 and q ≤ 2^24 that is 2^-63, against 2^-53
 * for 2^24 records of 256 KiB without a byte limit. Forgery needs no limit of its own: one failed
 * record ends the link, so each key faces one forgery attempt (advantage ≤ 2^-110).
 */
export const LINK_REKEY_AFTER_BYTES = 2 ** 37;

/** Prologue label of the end-to-end handshake; followed by version, initiator id, responder id. */
export const E2E_PROLOGUE_LABEL = "schied/1/e2e-prologue";

/**
 * Label of the signature by which an identity key vouches for its daemon's Noise static key in
 * the end-to-end handshake. Distinct from LINK_AUTH_LABEL, so a login signature can never pass
 * as a static-key signature or the reverse.
 */
export const E2E_STATIC_LABEL = "schied/1/e2e-static";

/** Envelope format version (first byte of every envelope). */
export const ENVELOPE_VERSION = 1;

/** Envelope header: version, kind, 8-byte session or handshake id. */
export const ENVELOPE_HEADER_LEN = 10;

/** Largest text of one message, in UTF-8 bytes (fits one padded envelope). */
export const MAX_TEXT_BYTES = 60_000;

/**
 * Sizes an end-to-end plaintext is padded up to, so the relay sees a few size classes rather
 * than lengths (the last one fills an envelope).
 */
export const PAD_BUCKETS: readonly number[] = [256, 1024, 4096, 16384, 65536 - 14 - 16 - 4];

/**
 * Most message keys one MSG may make a receiver derive ahead (a gap from dropped messages).
 * Why 2,000: a chain step costs 8–28 µs here, so a MSG far ahead costs at most ~56 ms of CPU
 * (derived in slices, see SKIP_SLICE), against seconds at 100,000; the daemon's sender keeps
 * gaps far below it (at most WINDOW = 256 messages are sealed per try), and a receiver that
 * sees a MSG further ahead starts a new handshake instead.
 */
export const MAX_SKIP = 2000;

/** Skipped keys derived per slice; the caller may yield to the event loop between slices. */
export const SKIP_SLICE = 256;

/** Most skipped message keys kept for late messages, per session (oldest dropped first). */
export const MAX_SKIPPED_KEYS = 1000;
