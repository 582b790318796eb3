/**
 * The file half of the API tests' fake DaemonService (_fake_service.ts extends it): one file kept
 * in memory, uploads read whole and kept, so the API's upload, list and download paths can be
 * checked without a daemon.
 *
 * @module
 */
import { type FileRecord, ServiceError } from "../../daemon/service.ts";

/** A file record for tests. */
export function fakeFile(over: Partial<FileRecord> = {}): FileRecord {
  return {
    id: "a".repeat(32),
    direction: "in",
    peer: "0b3e51c2-6f1d-8a4e-9c1b-2d3e4f5a6b7c",
    peer_name: "alice",
    name: "report.pdf",
    size: 10,
    type: "application/pdf",
    sha256: "0".repeat(64),
    state: "complete",
    bytes: 10,
    created_at: 1,
    ...over,
  };
}

/** Files, in memory. */
export class FakeFiles {
  /** Files by id; a test may add some. */
  readonly fileMap = new Map<string, { file: FileRecord; bytes: Uint8Array }>();
  /** Largest upload taken. */
  maxFileBytes = 1024 * 1024;

  fileLimits(): { maxFileBytes: number } {
    return { maxFileBytes: this.maxFileBytes };
  }

  /** Reads the upload whole and keeps it as an outgoing file. */
  async sendFile(req: {
    to: string;
    name: string;
    type?: string;
    size?: number;
    body: ReadableStream<Uint8Array>;
  }): Promise<FileRecord> {
    if (req.size !== undefined && req.size > this.maxFileBytes) {
      await req.body.cancel();
      throw new ServiceError("file_too_large", "too large");
    }
    const bytes = new Uint8Array(await new Response(req.body).arrayBuffer());
    if (bytes.length > this.maxFileBytes) throw new ServiceError("file_too_large", "too large");
    const file = fakeFile({
      id: String(this.fileMap.size).padStart(32, "0"),
      direction: "out",
      name: req.name,
      size: bytes.length,
      type: req.type ?? "application/octet-stream",
      state: "offered",
      bytes: 0,
    });
    this.fileMap.set(file.id, { file, bytes });
    return file;
  }

  files(_q: { with?: string; limit?: number }): FileRecord[] {
    return [...this.fileMap.values()].map((f) => f.file);
  }

  file(id: string): FileRecord {
    const f = this.fileMap.get(id);
    if (!f) throw new ServiceError("not_found", `No file with id ${id}`);
    return f.file;
  }

  acceptFile(id: string): Promise<FileRecord> {
    return Promise.resolve(this.file(id));
  }

  deleteFile(id: string): Promise<FileRecord> {
    return Promise.resolve(this.file(id));
  }

  fileContent(id: string, range?: { start: number; end: number }) {
    const f = this.fileMap.get(id);
    if (!f) throw new ServiceError("not_found", `No file with id ${id}`);
    const { start, end } = range ?? { start: 0, end: f.bytes.length - 1 };
    return { file: f.file, body: new Response(f.bytes.slice(start, end + 1)).body! };
  }
}
