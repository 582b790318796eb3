/**
 * The inner payload of an end-to-end message (what a MSG envelope decrypts to, before padding):
 * one JSON object. `{"t":"m","id","seq","ts","text","floor"?}` is a chat message, `{"t":"a","upto"}`
 * a cumulative acknowledgement (every message up to `upto` is durable at the receiver). `floor`
 * is the lowest sequence number the sender still tries to deliver: numbers below it were
 * delivered or given up, so a receiver waiting for one of them moves on to `floor`. `rot`, on a
 * chat message, is a chain of identity rotation statements (protocol/README.md, section 3.1)
 * in base64url: the sender moved to this id from the ones the statements name; an `m` with
 * `rot` and an empty `text` is a _carrier_, which takes its sequence number but is no message
 * to show. `fo`, `fc`, `fa` and `fx` are a file's offer, chunks, acceptance and end
 * (_payload_file.ts, section 11.10); they are numbered like `m`. `g`, `ge`, `gm` and `gc` on an
 * `m` are a group message's and a group change's (_payload_group.ts, section 11.11). Unknown fields are ignored; an
 * unknown `t` is skipped (a newer peer's feature).
 *
 * @module
 */
import { fromBase64Url, utf8, utf8Strict } from "./bytes.ts";
import { MAX_TEXT_BYTES } from "./constants.ts";
import { ProtocolError } from "./errors.ts";
import { ROTATION_CHAIN_MAX, ROTATION_LEN } from "./rotation.ts";
import { type FilePayload, parseFilePayload, type Sequenced } from "./_payload_file.ts";
import { parseGroupFields } from "./_payload_group.ts";

export { FILE_END_REASONS, type FilePayload } from "./_payload_file.ts";

/** A decoded payload. */
export type Payload =
  | {
    t: "m";
    id: string;
    seq: number;
    ts: number;
    text: string;
    floor?: number;
    rot?: string;
    /** A group message: its group, the sender's epoch, its id in every copy (section 11.11). */
    g?: string;
    ge?: number;
    gm?: string;
    /** A group change carrier: 1–4 change statements in base64url, oldest first. */
    gc?: string[];
  }
  | { t: "a"; upto: number }
  | FilePayload
  | { t: "unknown" };

function fail(msg: string): never {
  throw new ProtocolError("bad_frame", `Cannot parse payload: ${msg}`);
}

const ID_RE = /^[0-9a-f-]{1,64}$/;

/** True for 1 to ROTATION_CHAIN_MAX rotation statements in canonical unpadded base64url. */
function isStatements(v: unknown): boolean {
  if (typeof v !== "string" || v.length > Math.ceil(ROTATION_CHAIN_MAX * ROTATION_LEN * 4 / 3)) {
    return false;
  }
  try {
    const n = fromBase64Url(v).length;
    return n > 0 && n % ROTATION_LEN === 0;
  } catch {
    return false;
  }
}

/**
 * Encodes a payload to bytes.
 *
 * @example
 * ```ts
 * encodePayload({ t: "a", upto: 7 });
 * ```
 */
export function encodePayload(p: Exclude<Payload, { t: "unknown" }>): Uint8Array {
  return utf8.encode(JSON.stringify(p));
}

function isSeq(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

/** Decodes and checks a payload; each bad field has its own error. */
export function parsePayload(bytes: Uint8Array): Payload {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(utf8Strict.decode(bytes));
  } catch {
    fail("not UTF-8 JSON");
  }
  if (typeof j !== "object" || j === null || Array.isArray(j)) fail("not a JSON object");
  if (j.t === "m") {
    if (typeof j.id !== "string" || !ID_RE.test(j.id)) fail("id is not a message id");
    if (!isSeq(j.seq) || j.seq === 0) fail("seq is not a positive integer");
    if (!isSeq(j.ts)) fail("ts is not a timestamp");
    if (typeof j.text !== "string") fail("text is not a string");
    if (utf8.encode(j.text).length > MAX_TEXT_BYTES) fail(`text exceeds ${MAX_TEXT_BYTES} bytes`);
    if (j.floor !== undefined && (!isSeq(j.floor) || j.floor === 0 || j.floor > j.seq)) {
      fail("floor is not a sequence number at most seq");
    }
    if (j.rot !== undefined && !isStatements(j.rot)) {
      fail("rot is not a chain of rotation statements in base64url");
    }
    const m: Extract<Payload, { t: "m" }> = {
      t: "m",
      id: j.id,
      seq: j.seq,
      ts: j.ts,
      text: j.text,
    };
    if (j.floor !== undefined) m.floor = j.floor as number;
    if (j.rot !== undefined) m.rot = j.rot as string;
    parseGroupFields(j, m, fail);
    return m;
  }
  if (j.t === "fo" || j.t === "fc" || j.t === "fa" || j.t === "fx") {
    if (typeof j.id !== "string" || !ID_RE.test(j.id)) fail("id is not a message id");
    if (!isSeq(j.seq) || j.seq === 0) fail("seq is not a positive integer");
    if (!isSeq(j.ts)) fail("ts is not a timestamp");
    if (j.floor !== undefined && (!isSeq(j.floor) || j.floor === 0 || j.floor > j.seq)) {
      fail("floor is not a sequence number at most seq");
    }
    const base: Sequenced = { id: j.id, seq: j.seq, ts: j.ts };
    if (j.floor !== undefined) base.floor = j.floor as number;
    return parseFilePayload(j, base, fail);
  }
  if (j.t === "a") {
    if (!isSeq(j.upto)) fail("upto is not a non-negative integer");
    return { t: "a", upto: j.upto };
  }
  return { t: "unknown" };
}
