/**
 * Files sent and received (protocol/README.md, section 11.10): one row per file in `files`, its
 * bytes under `files/` in the state dir, sealed chunk by chunk under the file's own key (so the
 * disk holds no plaintext of a file, as daemon.db holds none of a message).
 *
 * A file to send is copied into the store when it is accepted (the API answers once the copy
 * and its offer are durable), so the transfer needs nothing outside the state dir and a file
 * changed or deleted after sending does not matter. The sender's copy is deleted once the peer
 * acknowledged the last chunk (or the transfer failed); the receiver's stays until deleted.
 *
 * Each file's offer, acceptance, end and chunks are outgoing rows of `messages` (files.ts
 * _files_out.ts): they take sequence numbers and are sealed, acknowledged and sent again exactly
 * like messages, which makes a transfer resume across restarts of either side.
 *
 * @module
 */
import { fromBase64Url, toBase64Url, toHex } from "../protocol/bytes.ts";
import { chunkCount, FILE_CHUNK_BYTES } from "../protocol/file.ts";
import type { Contacts } from "./contacts.ts";
import type { Journal } from "./journal.ts";
import type { Self } from "./self.ts";
import type { Store } from "./store.ts";
import { SEALED } from "./_migrations.ts";
import type { EventData } from "./service.ts";

/** The largest file accepted by default (256 MiB), either way. */
export const DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024;
/** Bytes of files each peer may have on this disk by default (1 GiB). */
export const DEFAULT_FILE_QUOTA_BYTES = 1024 * 1024 * 1024;
/** At most one `progress` event per file this often. */
export const PROGRESS_MS = 500;

/** Where a file stands. */
export type FileState = "offered" | "held" | "sending" | "receiving" | "complete" | "failed";

/** One file as stored. */
export interface FileRow {
  id: string;
  direction: "in" | "out";
  peer: string;
  name: string;
  type: string;
  key: Uint8Array;
  size: number;
  sha256: string;
  state: FileState;
  /** Chunks acknowledged (sending) or stored (receiving). */
  done: number;
  reason?: string;
  /** A file sent to a group (one transfer of it per member): the group's id. */
  group?: string;
  createdAt: number;
  updatedAt: number;
}

/** What the files need to know of their limits and place. */
export interface FilesOptions {
  /** The directory of the file store (`<state dir>/files`). */
  dir: string;
  maxFileBytes: number;
  quotaBytes: number;
}

/** The files of the current identity. */
export class Files {
  readonly #lastProgress = new Map<string, number>();

  /** Binds to the daemon's parts. */
  constructor(
    readonly store: Store,
    readonly journal: Journal,
    readonly self: Self,
    readonly contacts: Contacts,
    readonly now: () => number,
    readonly opts: FilesOptions,
  ) {}

  /** The sealed copy of a file being sent. */
  outPath(id: string): string {
    return `${this.opts.dir}/out/${id}`;
  }

  /** A file being received (sealed blocks, some missing). */
  partPath(id: string): string {
    return `${this.opts.dir}/in/${id}.part`;
  }

  /** A file received and verified (sealed blocks). */
  inPath(id: string): string {
    return `${this.opts.dir}/in/${id}`;
  }

  #row(r: Record<string, unknown>): FileRow {
    const id = r.id as string;
    const meta = JSON.parse(
      this.store.sealer.openText(r.meta as Uint8Array, SEALED.file, `${r.me}/${id}`),
    ) as { name: string; type: string; key: string; group?: string };
    const row: FileRow = {
      id,
      direction: r.direction as "in" | "out",
      peer: r.peer as string,
      name: meta.name,
      type: meta.type,
      key: fromBase64Url(meta.key),
      size: Number(r.size),
      sha256: r.sha256 as string,
      state: r.state as FileState,
      done: Number(r.done),
      createdAt: Number(r.created_at),
      updatedAt: Number(r.updated_at),
    };
    if (r.reason) row.reason = r.reason as string;
    if (meta.group) row.group = meta.group;
    return row;
  }

  /** A file by id. */
  get(id: string): FileRow | undefined {
    const r = this.store.stmt("SELECT * FROM files WHERE me = ? AND id = ?")
      .get(this.self.idText, id);
    return r ? this.#row(r as Record<string, unknown>) : undefined;
  }

  /** Every file, newest first (optionally only with one peer), at most `limit`. */
  list(peer: string | undefined, limit: number): FileRow[] {
    const rows = peer === undefined
      ? this.store.stmt("SELECT * FROM files WHERE me = ? ORDER BY created_at DESC LIMIT ?")
        .all(this.self.idText, limit)
      : this.store.stmt(
        "SELECT * FROM files WHERE me = ? AND peer = ? ORDER BY created_at DESC LIMIT ?",
      ).all(this.self.idText, peer, limit);
    return rows.map((r) => this.#row(r as Record<string, unknown>));
  }

  /** Files in `state` (both ways). */
  inState(state: FileState): FileRow[] {
    return this.store.stmt("SELECT * FROM files WHERE me = ? AND state = ?")
      .all(this.self.idText, state).map((r) => this.#row(r as Record<string, unknown>));
  }

  /** Inserts a new file (inside a write). */
  insert(row: FileRow): void {
    // The group a file was sent to is in the sealed metadata, as its name is.
    const meta = JSON.stringify({
      name: row.name,
      type: row.type,
      key: toBase64Url(row.key),
      ...(row.group ? { group: row.group } : {}),
    });
    this.store.stmt(
      `INSERT INTO files (id, me, direction, peer, meta, size, sha256, state, done, reason,
       created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      row.id,
      this.self.idText,
      row.direction,
      row.peer,
      this.store.sealer.sealText(meta, SEALED.file, `${this.self.idText}/${row.id}`),
      row.size,
      row.sha256,
      row.state,
      row.done,
      row.reason ?? null,
      row.createdAt,
      row.updatedAt,
    );
  }

  /** Changes a file's state and progress (inside a write); the row given changes too. */
  update(row: FileRow, state: FileState, done: number, reason?: string): void {
    row.state = state;
    row.done = done;
    row.updatedAt = this.now();
    if (reason !== undefined) row.reason = reason;
    this.store.stmt(
      "UPDATE files SET state = ?, done = ?, reason = ?, updated_at = ? WHERE me = ? AND id = ?",
    ).run(state, done, row.reason ?? null, row.updatedAt, this.self.idText, row.id);
  }

  /** Bytes of files `peer` has on this disk or on their way to it (receiving, complete). */
  usedBy(peer: string): number {
    return Number(
      (this.store.stmt(
        `SELECT coalesce(sum(size), 0) AS n FROM files WHERE me = ? AND peer = ?
         AND direction = 'in' AND state IN ('receiving', 'complete')`,
      ).get(this.self.idText, peer) as { n: number }).n,
    );
  }

  /** The API's view of a file. */
  record(row: FileRow): EventData<"file">["file"] {
    const bytes = Math.min(row.size, row.done * FILE_CHUNK_BYTES);
    return {
      id: row.id,
      direction: row.direction,
      peer: row.peer,
      peer_name: this.contacts.get(row.peer)?.name ?? null,
      name: row.name,
      size: row.size,
      type: row.type,
      sha256: row.sha256,
      state: row.state,
      bytes: row.state === "complete" ? row.size : bytes,
      ...(row.reason === undefined ? {} : { reason: row.reason }),
      ...(row.group === undefined ? {} : { group: row.group }),
      created_at: row.createdAt,
    };
  }

  /**
   * Appends a `file` event (inside a write). `progress` is rate-limited to one per PROGRESS_MS
   * per file; the others always go.
   */
  event(row: FileRow, phase: EventData<"file">["phase"]): void {
    if (phase === "progress") {
      const now = this.now();
      if (now - (this.#lastProgress.get(row.id) ?? 0) < PROGRESS_MS) return;
      this.#lastProgress.set(row.id, now);
    } else if (phase === "complete" || phase === "failed") this.#lastProgress.delete(row.id);
    this.journal.append("file", { phase, file: this.record(row) });
  }

  /** Chunks of a file of `size` bytes. */
  static chunks(size: number): number {
    return chunkCount(size);
  }

  /** A new random file id (32 hex digits). */
  static newId(): string {
    return toHex(crypto.getRandomValues(new Uint8Array(16)));
  }
}
