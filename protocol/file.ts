/**
 * Files (protocol/README.md, section 11.10): how a file is cut into chunks and how each chunk is
 * sealed under the file's own key. The chunk payloads themselves are parsed by payload.ts
 * (_payload_file.ts).
 *
 * A file has a random 16-byte id and a random 32-byte AES-256-GCM key, both chosen by the
 * sender and sent in the offer (inside the end-to-end session, so the relay never sees them).
 * Chunk `i` (from 0) is the plaintext bytes `[i·FILE_CHUNK_BYTES, (i+1)·FILE_CHUNK_BYTES)`,
 * sealed with nonce = 32 zero bits ‖ `i` as 64-bit big-endian, and associated data
 * `FILE_CHUNK_LABEL ‖ file id ‖ i (u64 BE)`: a chunk cannot be moved to another index or another
 * file, and the receiver checks its length against the size the offer announced (so a file
 * cannot be cut short or lengthened either). Sealing is deterministic (one key per file, one
 * nonce per index), so a chunk sent again is the same bytes.
 *
 * @module
 */
import { aesGcmNonce, openSync, sealSync } from "./_aead.ts";
import { concat, utf8 } from "./bytes.ts";
import { TAG_LEN } from "./constants.ts";
import { ProtocolError } from "./errors.ts";

/**
 * Plaintext bytes per chunk (44 KiB). Why: its ciphertext in base64url (60,096 characters) and
 * the chunk payload's other fields (under 300 bytes) fit the largest padding class's 63,174
 * bytes of payload with 2.7 KB to spare; a larger chunk would not fit, a smaller one costs more
 * envelopes per byte.
 */
export const FILE_CHUNK_BYTES = 44 * 1024;
/** Bytes of one sealed chunk (the last one of a file may be shorter). */
export const FILE_BLOCK_BYTES = FILE_CHUNK_BYTES + TAG_LEN;
/** Largest file the protocol describes (2^40 bytes); daemons set their own, lower, maximum. */
export const FILE_MAX_SIZE = 2 ** 40;
/** Label of the associated data of a chunk. */
export const FILE_CHUNK_LABEL = "schied/2/file-chunk";
/** Bytes of a file id. */
export const FILE_ID_LEN = 16;
/** Bytes of a file key. */
export const FILE_KEY_LEN = 32;

/** How many chunks a file of `size` bytes has (0 for an empty file). */
export function chunkCount(size: number): number {
  return Math.ceil(size / FILE_CHUNK_BYTES);
}

/** Plaintext bytes of chunk `i` of a file of `size` bytes. */
export function chunkSize(size: number, i: number): number {
  return Math.min(FILE_CHUNK_BYTES, size - i * FILE_CHUNK_BYTES);
}

function chunkAd(fileId: Uint8Array, i: number): Uint8Array {
  const tail = new Uint8Array(8);
  const v = new DataView(tail.buffer);
  v.setUint32(0, Math.floor(i / 2 ** 32));
  v.setUint32(4, i >>> 0);
  return concat(utf8.encode(FILE_CHUNK_LABEL), fileId, tail);
}

/** Seals chunk `i` of file `fileId` under `key`. */
export function sealChunk(
  key: Uint8Array,
  fileId: Uint8Array,
  i: number,
  plain: Uint8Array,
): Uint8Array {
  return sealSync(key, aesGcmNonce(i), plain, chunkAd(fileId, i));
}

/**
 * Opens chunk `i` (of `count`) of file `fileId`; `decrypt_failed` when it is not that chunk, sealed
 * under `key`, of the length its index implies for a file of `size` bytes.
 */
export function openChunk(
  key: Uint8Array,
  fileId: Uint8Array,
  i: number,
  size: number,
  sealed: Uint8Array,
): Uint8Array {
  const count = chunkCount(size);
  if (i >= count) {
    throw new ProtocolError(
      "decrypt_failed",
      `Cannot open file chunk: index ${i} ≥ ${count} chunks`,
    );
  }
  const want = chunkSize(size, i) + TAG_LEN;
  if (sealed.length !== want) {
    throw new ProtocolError(
      "decrypt_failed",
      `Cannot open file chunk: ${sealed.length} bytes, expected ${want} for chunk ${i}`,
    );
  }
  try {
    return openSync(key, aesGcmNonce(i), sealed, chunkAd(fileId, i));
  } catch {
    throw new ProtocolError("decrypt_failed", `Cannot open file chunk ${i}: authentication failed`);
  }
}

/**
 * A file name as a receiver may use it: 1–255 UTF-8 bytes, no `/`, `\`, NUL or other control
 * character, not `.` or `..`. Returns an error message, or undefined when it is one.
 */
export function fileNameProblem(name: string): string | undefined {
  const n = utf8.encode(name).length;
  if (n === 0 || n > 255) return `name has ${n} bytes, not 1 to 255`;
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f/\\]/.test(name)) return "name has a slash or a control character";
  if (name === "." || name === "..") return "name is . or ..";
  return undefined;
}

/** A media type without parameters (`type/subtype`, at most 127 characters). */
export const MEDIA_TYPE_RE =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}$/;
