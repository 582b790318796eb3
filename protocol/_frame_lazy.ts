/**
 * Frames written straight into the record that carries them (channel.ts's queue), instead of
 * being encoded into a buffer of their own first and copied into the record after.
 *
 * Why: the relay turns every SEND into a DELIVER to another session. Encoded eagerly, that is
 * one more buffer per envelope (header, sender id and the whole envelope copied once more)
 * before the record's own buffer; under Deno every typed-array allocation costs ~0.5-2 µs here
 * whatever its size, about as much as the copy. A lazy frame keeps views of its parts until
 * the queue's next flush, which runs in the same event-loop turn (Channel materializes what
 * would wait longer, behind a record being sealed off-thread, so that no view pins a
 * sender's record past that).
 *
 * @module
 */
import { FRAME_HEADER_LEN, ID_LEN } from "./constants.ts";
import { FRAME_TYPES } from "./frames.ts";

/** A frame of `length` bytes (header included) that writes itself into `out` at `at`. */
export interface LazyFrame {
  readonly length: number;
  write(out: Uint8Array, at: number): void;
}

function writeU32(out: Uint8Array, at: number, n: number): void {
  out[at] = n >>> 24;
  out[at + 1] = (n >>> 16) & 0xff;
  out[at + 2] = (n >>> 8) & 0xff;
  out[at + 3] = n & 0xff;
}

function writeHeader(out: Uint8Array, at: number, type: number, bodyLen: number): void {
  out[at] = type;
  writeU32(out, at + 1, bodyLen);
}

/**
 * DELIVER of `envelope` from `from`, the same bytes as encodeFrame's. Both are viewed, not
 * copied, until the frame is written: neither may change before then.
 */
export function lazyDeliver(from: Uint8Array, envelope: Uint8Array): LazyFrame {
  if (from.length !== ID_LEN) throw new TypeError(`from must be ${ID_LEN} bytes`);
  const body = ID_LEN + envelope.length;
  return {
    length: FRAME_HEADER_LEN + body,
    write(out, at) {
      writeHeader(out, at, FRAME_TYPES.deliver, body);
      out.set(from, at + FRAME_HEADER_LEN);
      out.set(envelope, at + FRAME_HEADER_LEN + ID_LEN);
    },
  };
}

/** ACK of every SEND up to `upto`, the same bytes as encodeFrame's. */
export function lazyAck(upto: number): LazyFrame {
  return {
    length: FRAME_HEADER_LEN + 4,
    write(out, at) {
      writeHeader(out, at, FRAME_TYPES.ack, 4);
      writeU32(out, at + FRAME_HEADER_LEN, upto);
    },
  };
}

/** The frame as bytes of its own (for a frame that must outlive the views it holds). */
export function materialize(f: Uint8Array | LazyFrame): Uint8Array {
  if (f instanceof Uint8Array) return f;
  const out = new Uint8Array(f.length);
  f.write(out, 0);
  return out;
}
