/**
 * The file payloads (protocol/README.md, section 11.10): `fo` (offer), `fc` (chunk), `fa`
 * (accept) and `fx` (end). Like `m`, each has `id`, `seq`, `ts` and an optional `floor`: it takes
 * a sequence number of its pair, so files and messages share one ordered, acknowledged stream.
 * Used only by payload.ts.
 *
 * @module
 */
import { fromBase64Url } from "./bytes.ts";
import { TAG_LEN } from "./constants.ts";
import {
  FILE_BLOCK_BYTES,
  FILE_KEY_LEN,
  FILE_MAX_SIZE,
  fileNameProblem,
  MEDIA_TYPE_RE,
} from "./file.ts";

/** The fields every sequenced payload has. */
export interface Sequenced {
  id: string;
  seq: number;
  ts: number;
  floor?: number;
}

/** The file payloads. */
export type FilePayload =
  | Sequenced & {
    t: "fo";
    file: string;
    name: string;
    size: number;
    type: string;
    sha256: string;
    key: string;
    /** A file sent to a group: its id (the receiver keeps it if the sender is a member). */
    g?: string;
  }
  | Sequenced & { t: "fc"; file: string; i: number; data: string }
  | Sequenced & { t: "fa"; file: string }
  | Sequenced & { t: "fx"; file: string; reason: string };

/** How a transfer ended (`fx`): `complete` (from the receiver: verified whole), or why not. */
export const FILE_END_REASONS = [
  "complete",
  "declined",
  "cancelled",
  "too_large",
  "quota",
  "bad_chunk",
  "bad_hash",
] as const;

const FILE_ID_RE = /^[0-9a-f]{32}$/;
const HEX64_RE = /^[0-9a-f]{64}$/;
const REASON_RE = /^[a-z_]{1,32}$/;

function b64Len(v: unknown): number {
  if (typeof v !== "string") return -1;
  try {
    return fromBase64Url(v).length;
  } catch {
    return -1;
  }
}

/** Checks the fields of file payload `j` (its sequencing fields checked already). */
export function parseFilePayload(
  j: Record<string, unknown>,
  base: Sequenced,
  fail: (msg: string) => never,
): FilePayload {
  if (typeof j.file !== "string" || !FILE_ID_RE.test(j.file)) fail("file is not a file id");
  const file = j.file;
  switch (j.t) {
    case "fo": {
      if (typeof j.name !== "string") fail("name is not a string");
      const bad = fileNameProblem(j.name);
      if (bad) fail(bad);
      const size = j.size;
      if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
        fail("size is not a non-negative integer");
      }
      if (size > FILE_MAX_SIZE) fail(`size ${size} exceeds ${FILE_MAX_SIZE}`);
      if (typeof j.type !== "string" || !MEDIA_TYPE_RE.test(j.type)) {
        fail("type is not a media type");
      }
      if (typeof j.sha256 !== "string" || !HEX64_RE.test(j.sha256)) {
        fail("sha256 is not 64 lowercase hex digits");
      }
      if (b64Len(j.key) !== FILE_KEY_LEN) fail(`key is not ${FILE_KEY_LEN} bytes in base64url`);
      if (j.g !== undefined && (typeof j.g !== "string" || !FILE_ID_RE.test(j.g))) {
        fail("g is not a group id");
      }
      return {
        t: "fo",
        ...base,
        file,
        name: j.name,
        size,
        type: j.type.toLowerCase(),
        sha256: j.sha256,
        key: j.key as string,
        ...(j.g === undefined ? {} : { g: j.g as string }),
      };
    }
    case "fc": {
      const i = j.i;
      if (typeof i !== "number" || !Number.isSafeInteger(i) || i < 0) {
        fail("i is not a non-negative integer");
      }
      const n = b64Len(j.data);
      if (n < TAG_LEN || n > FILE_BLOCK_BYTES) {
        fail(`data is not ${TAG_LEN} to ${FILE_BLOCK_BYTES} bytes in base64url`);
      }
      return { t: "fc", ...base, file, i, data: j.data as string };
    }
    case "fa":
      return { t: "fa", ...base, file };
    default: {
      if (typeof j.reason !== "string" || !REASON_RE.test(j.reason)) {
        fail("reason is not a reason code");
      }
      return { t: "fx", ...base, file, reason: j.reason };
    }
  }
}
