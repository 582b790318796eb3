/**
 * A file's flow through delivery (protocol/README.md, section 11.10): the payloads the pump
 * seals for a file's outbox rows, what an incoming file payload does inside the write that
 * takes its sequence number, and what follows each commit (outbox changes, verification,
 * deletions). Delivery calls it; the engine adds sending, accepting and reading (_engine_files.ts).
 *
 * @module
 */
import { toBase64Url } from "../protocol/bytes.ts";
import { chunkCount } from "../protocol/file.ts";
import type { FilePayload, Payload } from "../protocol/payload.ts";
import type { Files } from "./files.ts";
import type { Messages, PendingMessage } from "./messages.ts";
import type { Outbox } from "./outbox.ts";
import type { Store } from "./store.ts";
import { BlockWriter, readBlockSync, verifySealed } from "./_files_disk.ts";
import { acceptIncoming, checkChunk, type ChunkCheck, onChunk, onOffer } from "./_files_in.ts";
import {
  type Effects,
  failFile,
  type FileCtx,
  noEffects,
  onAccepted,
  onDelivered,
  onEnded,
  PART,
  queuePart,
} from "./_files_out.ts";
import { advance, inSequence } from "./_messages_receive.ts";
import { ensurePrivateDir } from "../lib/private_fs.ts";

export { acceptIncoming, type Effects, failFile, noEffects };

/** True for a file payload. */
export function isFilePayload(p: Payload): p is FilePayload {
  return p.t === "fo" || p.t === "fc" || p.t === "fa" || p.t === "fx";
}

/** Files as delivery moves them. */
export class FileFlow {
  readonly ctx: FileCtx;
  /** Peers to send to (delivery's kick), bound once delivery exists. */
  kick: (peer: string) => void = () => {};
  /** Reports a background failure (an `error` event). */
  onError: (e: unknown) => void = () => {};

  /** Binds to the daemon's parts. */
  constructor(
    readonly files: Files,
    readonly messages: Messages,
    readonly outbox: Outbox,
    readonly store: Store,
    now: () => number,
  ) {
    this.ctx = { files, messages, outbox, now };
  }

  /** The payload of a file's outbox row, sealed by the pump (reads a chunk from the store). */
  payload(m: PendingMessage, floor: number): FilePayload {
    const base = { id: m.id, seq: m.seq, ts: m.ts, floor, file: m.file! };
    const part = m.part ?? PART.offer;
    if (part === PART.accept) return { t: "fa", ...base };
    if (part === PART.end) return { t: "fx", ...base, reason: m.text };
    const row = this.files.get(m.file!);
    if (!row) throw new Error(`No file ${m.file} for its queued payload`);
    if (part === PART.offer) {
      const { name, size, type, sha256 } = row;
      const g = row.group === undefined ? {} : { g: row.group };
      return { t: "fo", ...base, name, size, type, sha256, key: toBase64Url(row.key), ...g };
    }
    const data = toBase64Url(readBlockSync(this.files.outPath(row.id), part, row.size));
    return { t: "fc", ...base, i: part, data };
  }

  /** Before the write: checks and writes the batch's chunks (durable before they are counted). */
  async prepare(opened: { peer: string; p: Payload }[]): Promise<Map<Payload, ChunkCheck>> {
    const checks = new Map<Payload, ChunkCheck>();
    const w = new BlockWriter();
    for (const { peer, p } of opened) {
      if (p.t === "fc") checks.set(p, await checkChunk(this.ctx, w, peer, p));
    }
    await w.flush();
    return checks;
  }

  /**
   * A file payload from `peer`, inside the write: in sequence, it is taken (and its number moves
   * on); returns false when it must not be acknowledged (held at the sender).
   */
  receive(
    e: Effects,
    peer: string,
    p: FilePayload,
    stranger: boolean,
    checks: Map<Payload, ChunkCheck>,
  ): boolean {
    if (inSequence(this.messages, peer, p.seq, p.floor) !== "next") return true;
    if (p.t === "fo") {
      if (!onOffer(this.ctx, e, peer, p, stranger)) return false;
    } else if (p.t === "fc") onChunk(this.ctx, e, peer, p, checks.get(p) ?? "skip");
    else if (p.t === "fa") onAccepted(this.ctx, e, peer, p.file);
    else onEnded(this.ctx, e, peer, p.file, p.reason);
    advance(this.messages, peer, p.seq);
    return true;
  }

  /** Inside the write that applies an acknowledgement: chunks delivered advance their files. */
  delivered(covered: PendingMessage[]): void {
    onDelivered(this.ctx, covered);
  }

  /** Inside the write that gives up on `expired` outbox entries: their files fail, quietly. */
  gaveUp(expired: PendingMessage[]): Effects {
    const e = noEffects();
    for (const id of new Set(expired.flatMap((m) => m.file === undefined ? [] : [m.file]))) {
      const row = this.files.get(id);
      if (row) failFile(this.ctx, e, row, "expired", true);
    }
    return e;
  }

  /** After the write committed: the outbox, the peers to send to, verification, deletions. */
  apply(e: Effects): void {
    for (const m of e.add) this.outbox.add(m);
    if (e.remove.length > 0) this.outbox.remove(e.remove);
    for (const peer of e.kick) this.kick(peer);
    for (const path of e.drop) void Deno.remove(path).catch(() => {});
    for (const id of e.finish) void this.finish(id).catch((err) => this.onError(err));
  }

  /**
   * Verifies a file whose last chunk is stored, moves it into place and marks it complete; a bad
   * one fails (`bad_hash`, the sender told). Also run at start for any left half-way.
   */
  async finish(id: string): Promise<void> {
    const row = this.files.get(id);
    if (!row || row.direction !== "in" || row.state !== "receiving") return;
    if (row.done !== chunkCount(row.size)) return; // chunks still to come
    const part = this.files.partPath(id), path = this.files.inPath(id);
    // A crash after the rename and before its write: the file is in place already.
    const at = await Deno.stat(part).then(() => part, () => path);
    if (row.size === 0) await ensurePrivateDir(this.files.opts.dir + "/in");
    const ok = await verifySealed(at, id, row.key, row.size, row.sha256);
    if (ok && at === part) await Deno.rename(part, path);
    const e = await this.store.write(() => {
      const e = noEffects();
      const r = this.files.get(id);
      if (!r || r.state !== "receiving") return e;
      if (ok) {
        this.files.update(r, "complete", r.done);
        this.files.event(r, "complete");
        // The sender's file is complete once we say it is whole (not at its last ack).
        e.add.push(queuePart(this.ctx, r.peer, id, PART.end, "complete"));
        e.kick.add(r.peer);
      } else failFile(this.ctx, e, r, "bad_hash");
      return e;
    });
    this.apply(e);
  }

  /**
   * At start: files left between their last chunk and their verification are verified, and
   * uploads cut off by a crash (their temp copies, never offered) are deleted.
   */
  resume(): void {
    void (async () => {
      for await (const e of Deno.readDir(`${this.files.opts.dir}/out`)) {
        if (e.name.endsWith(".tmp")) await Deno.remove(`${this.files.opts.dir}/out/${e.name}`);
      }
    })().catch(() => {}); // no store yet, or nothing to delete
    for (const row of this.files.inState("receiving")) {
      void this.finish(row.id).catch((err) => this.onError(err));
    }
  }
}
