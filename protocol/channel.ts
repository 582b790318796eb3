/**
 * The link record layer: frames in, encrypted records out, and back.
 *
 * Why this shape: each record costs an AES-GCM call and a socket write whatever its size, so a
 * link pays per record, not per frame. Frames pushed within one event-loop turn (one microtask
 * checkpoint: every frame a batch of socket reads produced) go out as one record, up to
 * MAX_RECORD; an idle link adds no delay. The owner may add one trailing frame to each record
 * (`trailer`: the relay's cumulative ACK of link version 2), so that an answer rides along with
 * whatever else goes to the session. Nonces are the Noise CipherState counters, taken in order;
 * records are written in nonce order and opened in arrival order, so a replayed, reordered or
 * dropped record fails to decrypt and closes the link.
 *
 * Records up to SYNC_RECORD_MAX are sealed and opened on the calling thread, and a received
 * record's frames are handed over before `receive` returns when nothing is waiting before it;
 * larger records go to WebCrypto (measurements and reasons in _aead.ts). The bytes on the wire
 * are the same either way, so the choice is invisible to the peer.
 *
 * Transport-agnostic: the owner passes `write` and reads `onFrames`; no I/O here.
 *
 * @module
 */
import {
  LINK_REKEY_AFTER,
  LINK_REKEY_AFTER_BYTES,
  MAX_WIRE_MESSAGE,
  TAG_LEN,
} from "./constants.ts";
import { authFailed, ProtocolError } from "./errors.ts";
import { type Frame, parseFrames, type Sender } from "./frames.ts";
import { openSync, RecordKey, sealSync, sealSyncParts, SYNC_RECORD_MAX } from "./_aead.ts";
import { FrameQueue, RecordCounters } from "./_channel_records.ts";
import { type LazyFrame, materialize } from "./_frame_lazy.ts";
import type { CipherState } from "./noise.ts";

export { SYNC_RECORD_MAX } from "./_aead.ts";
export { lazyAck, lazyDeliver, type LazyFrame } from "./_frame_lazy.ts";

/** Options of a channel. */
export interface ChannelOptions {
  /** Transport keys from the handshake. */
  send: CipherState;
  recv: CipherState;
  /** Who sends the records we open ("relay" on the daemon side). */
  peer: Sender;
  /** The negotiated link version (which frame types exist); default 1. */
  version?: number;
  /** Writes one sealed record to the transport. */
  write(record: Uint8Array): void;
  /**
   * Writes one sealed record given as parts to be sent back to back as one message (a
   * transport that copies them into its own frame anyway). Used instead of `write` for
   * records sealed on the calling thread when given.
   */
  writeParts?(parts: readonly Uint8Array[], length: number): void;
  /** Receives the frames of each opened record, in order. */
  onFrames(frames: Frame[]): void;
  /** Called once when the channel fails (bad record, bad frame, rekey due). */
  onError(e: ProtocolError): void;
  /** Called when the records waiting to be opened (receiveBacklog) are all handed over. */
  onBacklogCleared?(): void;
  /** Asked once per flush for a frame to send after everything queued (or undefined). */
  trailer?(): Uint8Array | LazyFrame | undefined;
  /** Records per direction before a re-handshake; defaults to LINK_REKEY_AFTER. */
  rekeyAfter?: number;
  /** Record bytes per direction before a re-handshake; defaults to LINK_REKEY_AFTER_BYTES. */
  rekeyAfterBytes?: number;
}

/**
 * One direction pair of an established link.
 *
 * @example
 * ```ts
 * const ch = new Channel({ send, recv, peer: "relay", write: (r) => ws.send(r), onFrames, onError });
 * ch.push(encodeFrame({ type: "watch", ids: [id] }));
 * ```
 */
export class Channel {
  readonly #o: ChannelOptions;
  readonly #send: RecordKey;
  readonly #recv: RecordKey;
  readonly #version: number;
  readonly #counters: RecordCounters;
  readonly #pending = new FrameQueue();
  #sealing = false;
  #scheduled = false;
  #inflightBytes = 0;
  /** Records on the read chain (a large one being opened, or one waiting behind it). */
  #waiting = 0;
  #waitingBytes = 0;
  #readChain: Promise<void> = Promise.resolve();
  #failed = false;
  #recordsSent = 0;
  #recordsOpened = 0;
  #drainWaiters: (() => void)[] = [];

  /** Takes the two CipherStates' keys and counters. */
  constructor(o: ChannelOptions) {
    this.#o = o;
    this.#send = new RecordKey(o.send.rawKey());
    this.#recv = new RecordKey(o.recv.rawKey());
    this.#version = o.version ?? 1;
    this.#counters = new RecordCounters(
      o.send.n,
      o.recv.n,
      o.rekeyAfter ?? LINK_REKEY_AFTER,
      o.rekeyAfterBytes ?? LINK_REKEY_AFTER_BYTES,
    );
  }

  /** Plaintext bytes queued or being sealed (for slow-reader checks). */
  get queuedBytes(): number {
    return this.#pending.bytes + this.#inflightBytes;
  }

  /**
   * Bytes of received records not yet handed over (large ones being decrypted by WebCrypto, and
   * those behind them). The owner stops reading above a limit of its own, so that a peer that
   * sends faster than records are opened is held back by TCP, not buffered here.
   */
  get receiveBacklog(): number {
    return this.#waitingBytes;
  }

  /** Resolves once every record received so far has been opened and handed over (or failed). */
  received(): Promise<void> {
    return this.#readChain.then(() => {}, () => {});
  }

  /** Records sealed and opened so far. */
  get stats(): { sent: number; opened: number } {
    return { sent: this.#recordsSent, opened: this.#recordsOpened };
  }

  /** True once the channel failed; it then neither sends nor delivers anything. */
  get failed(): boolean {
    return this.#failed;
  }

  /**
   * Queues one frame, encoded or lazy (_frame_lazy.ts: written into the record at the flush of
   * this event-loop turn). Frames are sent in push order.
   */
  push(frame: Uint8Array | LazyFrame): void {
    if (this.#failed) return;
    // Behind a record sealed off-thread the flush may be a while: hold no views until then.
    this.#pending.push(this.#sealing ? materialize(frame) : frame);
    this.kick();
  }

  /** Schedules a flush even with nothing queued, so that `trailer` is asked (a due ACK). */
  kick(): void {
    if (this.#failed || this.#sealing || this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => void this.#flush());
  }

  #fail(e: ProtocolError): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#pending.clear();
    this.#wakeDrained();
    this.#o.onError(e);
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    if (this.#sealing || this.#failed) return;
    const trailer = this.#o.trailer?.();
    if (trailer) this.#pending.push(trailer);
    this.#sealing = true;
    try {
      while (this.#pending.length > 0 && !this.#failed) {
        if (this.#counters.sendDue) {
          this.#fail(new ProtocolError("rekey", "Link key due for renewal"));
          return;
        }
        const record = this.#pending.take();
        const iv = this.#counters.nextSendNonce();
        if (record.length <= SYNC_RECORD_MAX && this.#o.writeParts) {
          const parts = sealSyncParts(this.#send.raw, iv, record);
          const length = record.length + TAG_LEN;
          this.#recordsSent++;
          this.#counters.sent(length);
          this.#o.writeParts(parts, length);
          continue;
        }
        let sealed: Uint8Array;
        if (record.length <= SYNC_RECORD_MAX) sealed = sealSync(this.#send.raw, iv, record);
        else {
          this.#pending.materialize(); // they wait behind this record (see push)
          this.#inflightBytes = record.length;
          sealed = await this.#send.sealAsync(iv, record);
          this.#inflightBytes = 0;
        }
        if (this.#failed) return;
        this.#recordsSent++;
        this.#counters.sent(sealed.length);
        this.#o.write(sealed);
      }
    } catch (e) {
      this.#fail(new ProtocolError("internal", `Cannot seal record: ${(e as Error).message}`));
    } finally {
      this.#sealing = false;
      if (this.#pending.length === 0 || this.#failed) this.#wakeDrained();
    }
  }

  #wakeDrained(): void {
    const w = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const f of w) f();
  }

  /** Resolves once every pushed frame has been sealed and written (or the channel failed). */
  drained(): Promise<void> {
    if ((this.#pending.length === 0 && !this.#sealing && !this.#scheduled) || this.#failed) {
      return Promise.resolve();
    }
    return new Promise((r) => this.#drainWaiters.push(r));
  }

  /**
   * Opens one record from the transport. Frames are handed over strictly in arrival order: a
   * small record with nothing waiting before it is opened and handed over at once; a large one
   * is decrypted by WebCrypto (started at once, pipelined) and the records after it wait for
   * it. Any failure fails the whole channel.
   */
  receive(wire: Uint8Array): void {
    if (this.#failed) return;
    if (wire.length < TAG_LEN + 1 || wire.length > MAX_WIRE_MESSAGE) {
      this.#fail(
        wire.length > MAX_WIRE_MESSAGE
          ? new ProtocolError(
            "too_large",
            `Record of ${wire.length} bytes exceeds ${MAX_WIRE_MESSAGE}`,
          )
          : authFailed(),
      );
      return;
    }
    // The peer may be a little behind in noticing its limit: some slack (RecordCounters).
    if (this.#counters.receiveOverdue(wire.length)) {
      this.#fail(new ProtocolError("rekey", "Peer did not renew the link key"));
      return;
    }
    const iv = this.#counters.nextRecvNonce();
    if (wire.length <= SYNC_RECORD_MAX + TAG_LEN) {
      let plain: Uint8Array | undefined;
      try {
        plain = openSync(this.#recv.raw, iv, wire);
      } catch {
        // reported in order, below
      }
      if (this.#waiting === 0) return this.#deliver(plain);
      this.#wait(wire.length);
      this.#readChain = this.#readChain.then(() => {
        this.#unwait(wire.length);
        this.#deliver(plain);
      });
      return;
    }
    this.#wait(wire.length);
    const opening = this.#recv.openAsync(iv, wire);
    opening.catch(() => {}); // handled in order below
    this.#readChain = this.#readChain.then(async () => {
      let plain: Uint8Array | undefined;
      try {
        plain = await opening;
      } catch {
        // reported by #deliver
      }
      this.#unwait(wire.length);
      this.#deliver(plain);
    });
  }

  #wait(bytes: number): void {
    this.#waiting++;
    this.#waitingBytes += bytes;
  }

  #unwait(bytes: number): void {
    this.#waiting--;
    this.#waitingBytes -= bytes;
    if (this.#waiting === 0 && !this.#failed) this.#o.onBacklogCleared?.();
  }

  /** Parses one opened record (undefined: it did not decrypt) and hands its frames over. */
  #deliver(plain: Uint8Array | undefined): void {
    if (this.#failed) return;
    if (plain === undefined) return this.#fail(authFailed());
    let frames: Frame[];
    try {
      frames = parseFrames(plain, this.#o.peer, this.#version);
    } catch (e) {
      this.#fail(e instanceof ProtocolError ? e : new ProtocolError("bad_frame", String(e)));
      return;
    }
    this.#recordsOpened++;
    try {
      this.#o.onFrames(frames);
    } catch (e) {
      this.#fail(new ProtocolError("internal", `Frame handler failed: ${(e as Error).message}`));
    }
  }

  /** Stops the channel without reporting an error (orderly close). */
  close(): void {
    this.#failed = true;
    this.#pending.clear();
    this.#wakeDrained();
  }
}
