/**
 * The HTTP side of files: an upload read as a stream (raw) or a form (multipart) and handed to
 * the service, and a download with its headers and one `Range`. Used only by app.ts.
 *
 * @module
 */
import type { Context } from "hono";
import type { DaemonService, FileRecord, GroupFiles } from "../daemon/service.ts";
import { ApiFailure } from "./errors.ts";
import { errorResponse } from "./guard.ts";
import { extendRequest, streamed } from "../lib/net/mod.ts";

/** A live upload gets this long again after every piece of its body (see extendRequest). */
const UPLOAD_IDLE_MS = 30_000;

/**
 * `body`, each piece extending its request's deadline: a slow upload lives while it moves. Read
 * only when pulled (no pipe, which would read at once): nothing of the body is asked for — and
 * no `100 Continue` sent — before the service has checked the upload and starts storing it.
 */
function live(req: Request, body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  extendRequest(req, UPLOAD_IDLE_MS);
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      const { done, value } = await reader.read();
      if (done) return ctl.close();
      extendRequest(req, UPLOAD_IDLE_MS);
      ctl.enqueue(value);
    },
    cancel: (why) => reader.cancel(why),
  }, { highWaterMark: 0 });
}

/** Media types by file extension, for an upload that names none. */
const BY_EXT: Record<string, string> = {
  txt: "text/plain",
  log: "text/plain",
  md: "text/markdown",
  csv: "text/csv",
  json: "application/json",
  pdf: "application/pdf",
  zip: "application/zip",
  gz: "application/gzip",
  tar: "application/x-tar",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  mp3: "audio/mpeg",
  mp4: "video/mp4",
};

/** The media type of an upload: `?type=`, else a meaningful Content-Type, else by extension. */
function typeOf(given: string | undefined, header: string | undefined, name: string): string {
  if (given) return given;
  const h = header?.split(";")[0]?.trim().toLowerCase();
  // curl's defaults (the form type for --data-binary; none for -T) say nothing of the file.
  if (h && h !== "application/x-www-form-urlencoded" && h !== "application/octet-stream") return h;
  return BY_EXT[name.slice(name.lastIndexOf(".") + 1).toLowerCase()] ?? "application/octet-stream";
}

/**
 * The name of a raw upload sent without `?name=` (`curl -T FILE '…/files?to=bob'` sends none):
 * `upload-YYYYMMDD-HHMMSS` in UTC, with the extension of its media type when there is one.
 */
export function defaultName(type: string | undefined, now = new Date()): string {
  const h = type?.split(";")[0]?.trim().toLowerCase();
  const ext = Object.entries(BY_EXT).find(([, t]) => t === h)?.[0] ?? "bin";
  const t = now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  return `upload-${t}.${ext}`;
}

/** PUT or POST /files: the body is the file, raw or in a multipart form. */
export async function uploadFile(
  c: Context,
  service: DaemonService,
): Promise<FileRecord | GroupFiles> {
  const q = { to: c.req.query("to"), name: c.req.query("name"), type: c.req.query("type") };
  if (!q.to) throw new ApiFailure("bad_request", "to is required: ?to=ID-OR-NAME");
  const header = c.req.header("content-type");
  const contentLength = c.req.header("content-length"), size = c.req.query("size");
  if (contentLength !== undefined && size !== undefined && Number(size) !== Number(contentLength)) {
    throw new ApiFailure(
      "bad_request",
      `size=${size} disagrees with the body's Content-Length ${contentLength}`,
    );
  }
  const declared = contentLength ?? size;
  const length = declared === undefined ? undefined : Number(declared);
  const max = service.fileLimits().maxFileBytes;
  if (header?.toLowerCase().startsWith("multipart/form-data")) {
    // A form is read whole: bounded by its declared length, which must be there.
    if (length === undefined || !Number.isSafeInteger(length)) {
      throw new ApiFailure("bad_request", "A multipart upload needs a Content-Length (or use -T)");
    }
    if (length > max + 64 * 1024) {
      await c.req.raw.body?.cancel().catch(() => {});
      throw new ApiFailure("file_too_large", `The file exceeds ${max} bytes (max-file-bytes)`);
    }
    extendRequest(c.req.raw, UPLOAD_IDLE_MS * 10);
    const form = await c.req.raw.formData().catch(() => {
      throw new ApiFailure("bad_request", "The multipart body cannot be read");
    });
    const files = [...form.values()].filter((v): v is File => v instanceof File);
    if (files.length > 1) {
      throw new ApiFailure(
        "bad_request",
        `The form has ${files.length} file parts: one per request`,
      );
    }
    const file = files[0];
    if (!file) throw new ApiFailure("bad_request", "The form has no file part (-F file=@PATH)");
    const name = q.name ?? file.name;
    return await service.sendFile({
      to: q.to,
      name,
      type: typeOf(q.type, file.type, name),
      size: file.size,
      body: file.stream(),
    });
  }
  const name = q.name ?? defaultName(typeOf(q.type, header, ""));
  return await service.sendFile({
    to: q.to,
    name,
    type: typeOf(q.type, header, name),
    ...(length === undefined || !Number.isSafeInteger(length) ? {} : { size: length }),
    body: live(c.req.raw, c.req.raw.body ?? new Response(new Uint8Array(0)).body!),
  });
}

/**
 * One range of `Range: bytes=…` within `size` bytes: `undefined` for the whole file (no header,
 * or one this API does not serve: several ranges, another unit), `null` when unsatisfiable.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | undefined | null {
  const m = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return null;
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return null;
  return { start, end };
}

/** `attachment` with the name, ASCII-safe and in RFC 8187 form. */
export function disposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  // encodeURIComponent leaves ' ( ) * ! unencoded; RFC 8187's attr-char does not allow them.
  const ext = encodeURIComponent(name).replace(
    /['()*!]/g,
    (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${ext}`;
}

/** GET /files/{id}: the bytes (200 or 206), or the record with ?info=1. */
export function downloadFile(c: Context, service: DaemonService, id: string): Response {
  if (c.req.query("info") === "1") {
    return new Response(JSON.stringify(service.file(id)) + "\n", {
      headers: { "content-type": "application/json; charset=utf-8" },
    });
  }
  const record = service.file(id);
  const range = parseRange(c.req.header("range"), record.size);
  if (range === null) {
    const res = errorResponse(
      new ApiFailure("range_not_satisfiable", `The file has ${record.size} bytes`),
    );
    res.headers.set("content-range", `bytes */${record.size}`);
    return res;
  }
  const { file, body } = service.fileContent(id, range);
  const headers: Record<string, string> = {
    "content-type": file.type,
    "content-disposition": disposition(file.name),
    "accept-ranges": "bytes",
    "content-length": String(range ? range.end - range.start + 1 : file.size),
  };
  // Streamed as it is opened (chunked): never held whole in memory.
  if (!range) return streamed(new Response(body, { status: 200, headers }));
  headers["content-range"] = `bytes ${range.start}-${range.end}/${file.size}`;
  return streamed(new Response(body, { status: 206, headers }));
}
