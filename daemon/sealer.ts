/**
 * Sealing of secrets at rest: every secret column of `daemon.db` (message texts, journal event
 * data, session state, contact names) is stored as a sealed blob under a 32-byte data key that
 * lives in `identity.json` — itself sealed by the passphrase when there is one.
 *
 * Why columns and not pages: node:sqlite offers no VFS hook and no SQLCipher, so pages cannot be
 * encrypted under SQLite; sealing values keeps SQLite's own durability (WAL, fsync) untouched.
 * What stays in clear is listed in the README: ids of peers, sequence numbers, times, statuses,
 * sizes, and pinned public keys.
 *
 * Blob format (version 1):
 *
 * ```
 * blob    = 0x01 ‖ epoch (16) ‖ nonce (12) ‖ AES-256-GCM(K_epoch, nonce, ad, plaintext) ‖ tag (16)
 * K_epoch = HKDF-SHA256(ikm = data key, salt = epoch, info = "schied/1/db/seal")
 * ```
 *
 * Why AES-256-GCM with epochs: node:crypto's AES-GCM is synchronous and fast here (≈5 µs for a
 * chat-sized value, against ≈15 µs for XChaCha20-Poly1305 in JS). Its 96-bit random nonces are
 * safe for 2^32 seals per key; each Sealer picks a fresh random epoch (so a fresh key) when it is
 * made and after every 2^28 seals, keeping the chance of a nonce collision under 2^-40 per key
 * however long the daemon runs. The `ad` binds a blob to its column and row, so a blob copied
 * into another row or column does not open.
 *
 * @module
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from "node:crypto";
import { concat, utf8 } from "../protocol/bytes.ts";

/** Format byte of a sealed blob. */
export const SEALED_FORMAT = 1;
/** HKDF info of the sealing keys. */
export const SEAL_LABEL = "schied/1/db/seal";
/** HKDF info of the key of the name index. */
export const NAME_INDEX_LABEL = "schied/1/db/name-index";
/** Seals per epoch key before a new epoch starts. */
export const SEALS_PER_EPOCH = 2 ** 28;

const EPOCH_LEN = 16, NONCE_LEN = 12, TAG_LEN = 16;
const OVERHEAD = 1 + EPOCH_LEN + NONCE_LEN + TAG_LEN;
/** Epoch keys kept for opening (the daemon writes one or two per run). */
const KEY_CACHE = 64;

/** A blob that does not open: another key, another row, or damage. */
export class SealError extends Error {
  /** @param what what failed to open */
  constructor(what: string) {
    super(`Cannot open sealed ${what}: wrong key, moved or damaged`);
    this.name = "SealError";
  }
}

function hkdf(key: Uint8Array, salt: Uint8Array, info: string): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", key, salt, utf8.encode(info), 32));
}

/**
 * Seals and opens values under the state dir's data key.
 *
 * @example
 * ```ts
 * const s = new Sealer(dataKey);
 * const blob = s.sealText("hello", "messages.body", id);
 * s.openText(blob, "messages.body", id); // "hello"
 * ```
 */
export class Sealer {
  readonly #dataKey: Uint8Array;
  readonly #indexKey: Uint8Array;
  readonly #keys = new Map<string, Uint8Array>();
  #epoch!: Uint8Array;
  #epochKey!: Uint8Array;
  #seals = 0;

  /** @param dataKey the 32-byte data key (from the keystore) */
  constructor(dataKey: Uint8Array) {
    if (dataKey.length !== 32) throw new TypeError("A data key is 32 bytes");
    this.#dataKey = dataKey.slice();
    this.#indexKey = hkdf(this.#dataKey, new Uint8Array(), NAME_INDEX_LABEL);
    this.#newEpoch();
  }

  #newEpoch(): void {
    this.#epoch = crypto.getRandomValues(new Uint8Array(EPOCH_LEN));
    this.#epochKey = hkdf(this.#dataKey, this.#epoch, SEAL_LABEL);
    this.#seals = 0;
  }

  #keyOf(epoch: Uint8Array): Uint8Array {
    const k = String.fromCharCode(...epoch);
    let key = this.#keys.get(k);
    if (!key) {
      key = hkdf(this.#dataKey, epoch, SEAL_LABEL);
      if (this.#keys.size >= KEY_CACHE) this.#keys.delete(this.#keys.keys().next().value!);
      this.#keys.set(k, key);
    }
    return key;
  }

  /** The associated data of a column and row: label ‖ column ‖ 0x00 ‖ row key. */
  static ad(column: string, row: string): Uint8Array {
    return utf8.encode(`${SEAL_LABEL}/${column}\u0000${row}`);
  }

  /** Seals `plain` for `column` of the row `row`. */
  seal(plain: Uint8Array, column: string, row: string): Uint8Array {
    if (++this.#seals > SEALS_PER_EPOCH) this.#newEpoch();
    // The blob is one array, the nonce drawn into its place (each array costs an allocation).
    const at = 1 + this.#epoch.length;
    const out = new Uint8Array(at + NONCE_LEN + plain.length + TAG_LEN);
    out[0] = SEALED_FORMAT;
    out.set(this.#epoch, 1);
    const nonce = crypto.getRandomValues(out.subarray(at, at + NONCE_LEN));
    const c = createCipheriv("aes-256-gcm", this.#epochKey, nonce);
    c.setAAD(Sealer.ad(column, row));
    let o = at + NONCE_LEN;
    for (const part of [c.update(plain), c.final(), c.getAuthTag()]) {
      out.set(part, o);
      o += part.length;
    }
    return out;
  }

  /** Opens a blob sealed for `column` of the row `row`; throws SealError. */
  open(blob: Uint8Array, column: string, row: string): Uint8Array {
    if (blob.length < OVERHEAD || blob[0] !== SEALED_FORMAT) throw new SealError(column);
    const epoch = blob.subarray(1, 1 + EPOCH_LEN);
    const nonce = blob.subarray(1 + EPOCH_LEN, 1 + EPOCH_LEN + NONCE_LEN);
    const body = blob.subarray(1 + EPOCH_LEN + NONCE_LEN, blob.length - TAG_LEN);
    try {
      const d = createDecipheriv("aes-256-gcm", this.#keyOf(epoch), nonce);
      d.setAAD(Sealer.ad(column, row));
      d.setAuthTag(blob.subarray(blob.length - TAG_LEN));
      return concat(d.update(body), d.final());
    } catch {
      throw new SealError(column);
    }
  }

  /** Seals a string (UTF-8; every code point kept, NUL included). */
  sealText(text: string, column: string, row: string): Uint8Array {
    return this.seal(utf8.encode(text), column, row);
  }

  /** Opens a sealed string. */
  openText(blob: Uint8Array, column: string, row: string): string {
    return new TextDecoder("utf-8", { fatal: true }).decode(this.open(blob, column, row));
  }

  /**
   * The blind index of a name: HMAC-SHA-256 under a key of its own, so that names can be unique
   * and looked up while stored sealed. Equal names give equal indexes, nothing else is revealed.
   */
  index(text: string): Uint8Array {
    return new Uint8Array(createHmac("sha256", this.#indexKey).update(utf8.encode(text)).digest());
  }
}
