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

/**
 * End-to-end versions this release speaks, best first (section 11.2's capability exchange).
 * Version 2: the hybrid handshake and the Double Ratchet with header encryption (section 13).
 * Version 1 (schied/1's classical XX and symmetric chains) is not in the list on purpose: a
 * daemon of this release never runs it, whatever a peer or the relay does (no downgrade).
 */
export const E2E_VERSIONS: readonly number[] = [2];

/** At most this many versions in a capability list (as the link's offer, section 2). */
export const E2E_MAX_OFFERED = 16;

/** Body lengths of schied/1's classical HS1, HS2 and HS3 (section 11.2): how an old peer shows. */
export const CLASSICAL_HS_LEN = { hs1: 32, hs2: 32 + 48 + 96 + 16, hs3: 48 + 96 + 16 } as const;

/**
 * Version byte of handshake envelopes (HS1–HS3). It stays 1 so that a schied/1 daemon parses our
 * HS1 and answers it, which is how it is recognised (section 11.2); MSG envelopes are version 2.
 */
export const ENVELOPE_VERSION = 1;

/** Handshake envelope header: version, kind, 8-byte handshake id. */
export const ENVELOPE_HEADER_LEN = 10;

/** Largest text of one message, in UTF-8 bytes (fits one padded envelope). */
export const MAX_TEXT_BYTES = 60_000;

/**
 * Sizes an end-to-end plaintext is padded up to, so the relay sees a few size classes rather
 * than lengths. The last is RATCHET_MAX_PLAINTEXT (63,178): the most a ratchet message can carry
 * when its header holds both ML-KEM fields, so every class fits every message (section 11.4).
 */
export const PAD_BUCKETS: readonly number[] = [
  256,
  1024,
  4096,
  16384,
  65536 - 2 - 12 - 40 - 2272 - 32,
];

// ---- Double Ratchet (protocol/ratchet.ts; every end-to-end session of version 2) ----

/**
 * First byte of a ratchet message. Why 2: the message is the whole MSG envelope of end-to-end
 * version 2, and a parser of `schied/1` envelopes refuses it (`version 2 is not 1`) instead of
 * misreading it.
 */
export const RATCHET_ENVELOPE_VERSION = 2;

/** First byte of a serialised ratchet state; bumped whenever its layout changes. */
export const RATCHET_STATE_VERSION = 1;

/** HKDF info of the ratchet's initial keys, from the Noise XX Split() output and hash. */
export const RATCHET_INIT_LABEL = "schied/2/ratchet-init";

/** HKDF info of KDF_RK (root key, chain key, next header key). */
export const RATCHET_RK_LABEL = "schied/2/ratchet-rk";

/** HKDF info that turns a message key into an AES-256-GCM key and nonce. */
export const RATCHET_MK_LABEL = "schied/2/ratchet-mk";

/** HMAC input deriving a header key's AES-256-GCM sub-key. */
export const RATCHET_HK_ENC_LABEL = "schied/2/ratchet-hk-enc";

/** HMAC input deriving a header key's synthetic-nonce sub-key. */
export const RATCHET_HK_SIV_LABEL = "schied/2/ratchet-hk-siv";

/** KDF_CK: HMAC input of the message key (Signal's recommended constant). */
export const RATCHET_CK_MESSAGE = 0x01;

/** KDF_CK: HMAC input of the next chain key; distinct from RATCHET_CK_MESSAGE. */
export const RATCHET_CK_NEXT = 0x02;

/** ML-KEM-768 (FIPS 203) encapsulation key length. */
export const MLKEM_PUBLIC_KEY_LEN = 1184;

/** ML-KEM-768 ciphertext length. */
export const MLKEM_CIPHERTEXT_LEN = 1088;

/** ML-KEM key-generation seed (d ‖ z); stored instead of the 2400-byte decapsulation key. */
export const MLKEM_SEED_LEN = 64;

/** ML-KEM encapsulation randomness (m of FIPS 203 Algorithm 17). */
export const MLKEM_RANDOM_LEN = 32;

/** ML-KEM shared secret length. */
export const MLKEM_SHARED_LEN = 32;

/**
 * The sparse post-quantum schedule: DH step s offers a new ML-KEM key when (s − 1) is a multiple
 * of this period, and step s + 1 answers it with a ciphertext that enters KDF_RK. Why 8: the
 * daemon acknowledges every message, so the turn changes about once per envelope; at 8 a KEM
 * round rides on 2 of 8 chains (≈ 284 extra bytes per envelope on average, against 2,272 on every
 * envelope with a KEM in every step) and healing against a quantum adversary takes at most 9 steps
 * (about 4 messages each way). Healing against a classical one still takes one round trip.
 */
export const RATCHET_KEM_PERIOD = 8;

/**
 * Most message keys one message may make the receiver derive in one chain (a gap). Why 1,000: a
 * chain step costs 8–28 µs here, so one message costs at most two gaps (old chain's tail, new
 * chain's head) ≈ 56 ms; the daemon's sender seals at most WINDOW = 256 per try, so a genuine gap
 * stays far below. Only a holder of the header key (the peer) can ask for it: the relay cannot.
 */
export const RATCHET_MAX_SKIP = 1000;

/** Skipped keys kept per chain (newest kept): two windows of WINDOW = 256 reordered messages. */
export const RATCHET_MAX_SKIPPED_PER_CHAIN = 500;

/** Skipped keys kept in all (oldest dropped first), as MAX_SKIPPED_KEYS: ≤ 44 KB of state. */
export const RATCHET_MAX_SKIPPED_KEYS = 1000;

/**
 * Chains with skipped keys kept (oldest dropped whole). Each one is a header key a message must be
 * tried against, so this bounds header trials per message at 2 + 4.
 */
export const RATCHET_MAX_SKIPPED_CHAINS = 4;

/**
 * Age after which a skipped key is dropped, in ms of the injected clock. Why 15 minutes: the
 * relay stores nothing, so an envelope is late by seconds; the sender re-seals anything
 * unacknowledged every RETRY_MS = 3 s under its newest state. A key kept longer only serves a
 * relay that held an envelope back, and is readable by a thief of the state.
 */
export const RATCHET_SKIPPED_MAX_AGE_MS = 15 * 60 * 1000;

/**
 * Largest plaintext a ratchet message may carry: MAX_ENVELOPE less the largest header (version,
 * shape, synthetic nonce 12, header 40, both KEM fields 2,272, tag 16) and the body's tag 16.
 */
export const RATCHET_MAX_PLAINTEXT = MAX_ENVELOPE - 2 - 12 - 40 - 2272 - 16 - TAG_LEN;
