/**
 * Link frames: the messages a daemon and the relay exchange inside encrypted link records.
 *
 * A frame is `type (u8) ‖ body length (u32, big-endian) ‖ body`. A record holds one or more
 * frames back to back. Types below 0x80 travel daemon → relay, types from 0x80 relay → daemon.
 * Types in 0x40–0x7f and 0xc0–0xff are extensions: a peer that does not know one skips it. Any
 * other unknown type is an error. Known frames are parsed strictly: a wrong length is an error.
 * Link version 2 adds ACK (0x86), the cumulative answer to delivered SENDs; on a version-1 link
 * it is an unknown type like any other.
 *
 * @example
 * ```ts
 * const bytes = encodeFrame({ type: "send", seq: 1, to, envelope });
 * const [frame] = parseFrames(bytes, "daemon");
 * ```
 * @module
 */
import {
  FRAME_HEADER_LEN,
  ID_LEN,
  MAX_ENVELOPE,
  MAX_FRAME_BODY,
  MAX_REASON_LEN,
  MAX_WATCH_IDS_PER_FRAME,
} from "./constants.ts";
import { codeFromNumber, ERROR_CODES, type ErrorCode, ProtocolError } from "./errors.ts";
import { utf8, utf8Strict } from "./bytes.ts";

/** Wire numbers of the frame types. */
export const FRAME_TYPES = {
  send: 0x01,
  watch: 0x02,
  unwatch: 0x03,
  welcome: 0x81,
  deliver: 0x82,
  result: 0x83,
  presence: 0x84,
  error: 0x85,
  ack: 0x86,
} as const;

/** The link version from which a frame type exists (types not listed: every version). */
const SINCE_VERSION: Partial<Record<number, number>> = { [0x86]: 2 };

/** Outcome of one SEND, as the relay reports it. */
export type SendStatus = "delivered" | "offline" | "rejected";
const STATUS_NUM: Record<SendStatus, number> = { delivered: 0, offline: 1, rejected: 2 };
const STATUS_BY_NUM: SendStatus[] = ["delivered", "offline", "rejected"];

/** Every frame of the link protocol, as one discriminated union. */
export type Frame =
  | { type: "send"; seq: number; to: Uint8Array; envelope: Uint8Array }
  | { type: "watch"; ids: Uint8Array[] }
  | { type: "unwatch"; ids: Uint8Array[] }
  | {
    type: "welcome";
    id: Uint8Array;
    registered: boolean;
    maxEnvelope: number;
    framesPerSecond: number;
    maxWatches: number;
  }
  | { type: "deliver"; from: Uint8Array; envelope: Uint8Array }
  | { type: "result"; seq: number; status: SendStatus; code: ErrorCode | null }
  | { type: "presence"; id: Uint8Array; online: boolean }
  | { type: "error"; code: ErrorCode; reason: string }
  | { type: "ack"; upto: number };

/** Who sent the bytes being parsed. */
export type Sender = "daemon" | "relay";

function fail(msg: string): never {
  throw new ProtocolError("bad_frame", `Cannot parse frame: ${msg}`);
}

function header(type: number, bodyLen: number): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_LEN + bodyLen);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, bodyLen);
  return out;
}

function checkId(id: Uint8Array, what: string): void {
  if (id.length !== ID_LEN) throw new TypeError(`${what} must be ${ID_LEN} bytes`);
}

function encodeIds(type: number, ids: Uint8Array[]): Uint8Array {
  if (ids.length > MAX_WATCH_IDS_PER_FRAME) {
    throw new TypeError(`At most ${MAX_WATCH_IDS_PER_FRAME} ids per frame`);
  }
  const out = header(type, 2 + ids.length * ID_LEN);
  new DataView(out.buffer).setUint16(5, ids.length);
  ids.forEach((id, i) => {
    checkId(id, "id");
    out.set(id, 7 + i * ID_LEN);
  });
  return out;
}

/** Encodes one frame (header and body). Throws a TypeError on out-of-range fields. */
export function encodeFrame(f: Frame): Uint8Array {
  switch (f.type) {
    case "send": {
      checkId(f.to, "to");
      if (f.envelope.length === 0 || f.envelope.length > MAX_ENVELOPE) {
        throw new TypeError(`Envelope of ${f.envelope.length} bytes is outside 1–${MAX_ENVELOPE}`);
      }
      const out = header(FRAME_TYPES.send, 4 + ID_LEN + f.envelope.length);
      new DataView(out.buffer).setUint32(5, f.seq);
      out.set(f.to, 9);
      out.set(f.envelope, 9 + ID_LEN);
      return out;
    }
    case "watch":
    case "unwatch":
      return encodeIds(FRAME_TYPES[f.type], f.ids);
    case "welcome": {
      checkId(f.id, "id");
      const out = header(FRAME_TYPES.welcome, ID_LEN + 1 + 12);
      const v = new DataView(out.buffer);
      out.set(f.id, 5);
      out[5 + ID_LEN] = f.registered ? 1 : 0;
      v.setUint32(6 + ID_LEN, f.maxEnvelope);
      v.setUint32(10 + ID_LEN, f.framesPerSecond);
      v.setUint32(14 + ID_LEN, f.maxWatches);
      return out;
    }
    case "deliver": {
      checkId(f.from, "from");
      const out = header(FRAME_TYPES.deliver, ID_LEN + f.envelope.length);
      out.set(f.from, 5);
      out.set(f.envelope, 5 + ID_LEN);
      return out;
    }
    case "result": {
      const out = header(FRAME_TYPES.result, 7);
      const v = new DataView(out.buffer);
      v.setUint32(5, f.seq);
      out[9] = STATUS_NUM[f.status];
      v.setUint16(10, f.code === null ? 0 : ERROR_CODES[f.code]);
      return out;
    }
    case "presence": {
      checkId(f.id, "id");
      const out = header(FRAME_TYPES.presence, ID_LEN + 1);
      out.set(f.id, 5);
      out[5 + ID_LEN] = f.online ? 1 : 0;
      return out;
    }
    case "ack": {
      const out = header(FRAME_TYPES.ack, 4);
      new DataView(out.buffer).setUint32(5, f.upto);
      return out;
    }
    case "error": {
      let reason = utf8.encode(f.reason);
      if (reason.length > MAX_REASON_LEN) reason = utf8.encode(f.reason.slice(0, 64));
      const out = header(FRAME_TYPES.error, 2 + reason.length);
      new DataView(out.buffer).setUint16(5, ERROR_CODES[f.code]);
      out.set(reason, 7);
      return out;
    }
  }
}

function parseBody(type: number, b: Uint8Array, version: number): Frame | null {
  if ((SINCE_VERSION[type] ?? 1) > version) return unknown(type);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const exact = (name: string, n: number) => {
    if (b.length !== n) fail(`${name} body is ${b.length} bytes, expected ${n}`);
  };
  switch (type) {
    case FRAME_TYPES.send: {
      if (b.length < 4 + ID_LEN) fail(`send body is ${b.length} bytes, shorter than ${4 + ID_LEN}`);
      const envelope = b.subarray(4 + ID_LEN);
      if (envelope.length === 0) fail("send envelope is empty");
      // `to` is a view like the envelope: the relay routes it at once and keeps neither.
      return { type: "send", seq: v.getUint32(0), to: b.subarray(4, 4 + ID_LEN), envelope };
    }
    case FRAME_TYPES.watch:
    case FRAME_TYPES.unwatch: {
      const name = type === FRAME_TYPES.watch ? "watch" : "unwatch";
      if (b.length < 2) fail(`${name} body is ${b.length} bytes, shorter than 2`);
      const n = v.getUint16(0);
      if (n === 0) fail(`${name} has no ids`);
      if (n > MAX_WATCH_IDS_PER_FRAME) {
        fail(`${name} count ${n} exceeds ${MAX_WATCH_IDS_PER_FRAME}`);
      }
      exact(name, 2 + n * ID_LEN);
      const ids = Array.from(
        { length: n },
        (_, i) => b.slice(2 + i * ID_LEN, 2 + (i + 1) * ID_LEN),
      );
      return { type: name, ids };
    }
    case FRAME_TYPES.welcome: {
      exact("welcome", ID_LEN + 13);
      const flag = b[ID_LEN]!;
      if (flag > 1) fail(`welcome flags ${flag} has unknown bits`);
      return {
        type: "welcome",
        id: b.slice(0, ID_LEN),
        registered: flag === 1,
        maxEnvelope: v.getUint32(ID_LEN + 1),
        framesPerSecond: v.getUint32(ID_LEN + 5),
        maxWatches: v.getUint32(ID_LEN + 9),
      };
    }
    case FRAME_TYPES.deliver: {
      if (b.length <= ID_LEN) fail(`deliver body is ${b.length} bytes, no envelope`);
      return { type: "deliver", from: b.slice(0, ID_LEN), envelope: b.subarray(ID_LEN) };
    }
    case FRAME_TYPES.result: {
      exact("result", 7);
      const status = STATUS_BY_NUM[b[4]!];
      if (!status) fail(`result status ${b[4]} is unknown`);
      const n = v.getUint16(5);
      return {
        type: "result",
        seq: v.getUint32(0),
        status,
        code: n === 0 ? null : codeFromNumber(n),
      };
    }
    case FRAME_TYPES.presence: {
      exact("presence", ID_LEN + 1);
      const flag = b[ID_LEN]!;
      if (flag > 1) fail(`presence flag ${flag} is not 0 or 1`);
      return { type: "presence", id: b.slice(0, ID_LEN), online: flag === 1 };
    }
    case FRAME_TYPES.ack:
      exact("ack", 4);
      return { type: "ack", upto: v.getUint32(0) };
    case FRAME_TYPES.error: {
      if (b.length < 2) fail(`error body is ${b.length} bytes, shorter than 2`);
      if (b.length > 2 + MAX_REASON_LEN) fail(`error reason exceeds ${MAX_REASON_LEN} bytes`);
      let reason: string;
      try {
        reason = utf8Strict.decode(b.subarray(2));
      } catch {
        fail("error reason is not UTF-8");
      }
      return { type: "error", code: codeFromNumber(v.getUint16(0)), reason };
    }
    default:
      return unknown(type);
  }
}

/** An unknown type: skipped in the extension ranges, an error anywhere else. */
function unknown(type: number): null {
  if ((type & 0x40) !== 0) return null;
  throw new ProtocolError("unknown_frame", `Cannot parse frame: unknown type 0x${hex2(type)}`);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/**
 * Parses a record into its frames. Length checks come first: a declared length above the limit
 * is rejected before anything is allocated. Frames sent the wrong way are rejected, and so are
 * types the link's `version` does not have (ACK before version 2: `unknown_frame`).
 */
export function parseFrames(record: Uint8Array, sender: Sender, version = 1): Frame[] {
  const frames: Frame[] = [];
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  let off = 0;
  if (record.length === 0) fail("empty record");
  while (off < record.length) {
    if (record.length - off < FRAME_HEADER_LEN) {
      fail(`truncated header: ${record.length - off} bytes, expected ${FRAME_HEADER_LEN}`);
    }
    const type = record[off]!;
    const len = view.getUint32(off + 1);
    if (len > MAX_FRAME_BODY) fail(`length ${len} exceeds ${MAX_FRAME_BODY}`);
    if (len > record.length - off - FRAME_HEADER_LEN) {
      fail(`length ${len} exceeds the ${record.length - off - FRAME_HEADER_LEN} bytes left`);
    }
    const fromRelay = (type & 0x80) !== 0;
    if (fromRelay !== (sender === "relay")) {
      fail(`type 0x${hex2(type)} cannot be sent by the ${sender}`);
    }
    const body = record.subarray(off + FRAME_HEADER_LEN, off + FRAME_HEADER_LEN + len);
    const f = parseBody(type, body, version);
    if (f) frames.push(f);
    off += FRAME_HEADER_LEN + len;
  }
  return frames;
}
