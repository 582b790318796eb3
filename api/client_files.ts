/**
 * The file routes for the API client (the CLI's `send --file`, `files`, `listen --save-dir`):
 * uploads stream their body, downloads hand back the response to stream from.
 *
 * @module
 */
import type { ApiClient } from "./client.ts";
import type { FileRecord, GroupFiles } from "../daemon/service.ts";

export type { FileRecord, GroupFiles };

/** `PUT /files`: sends `body` (streamed) to `to` as `name`; `size` lets a too-large file be refused before any byte. */
export async function uploadFile(
  api: ApiClient,
  req: { to: string; name: string; type?: string; size?: number; body: BodyInit },
): Promise<FileRecord | GroupFiles> {
  const query = { to: req.to, name: req.name, type: req.type, size: req.size };
  const res = await api.request("PUT", "/files", { query, body: req.body });
  return await res.json() as FileRecord | GroupFiles;
}

/** `GET /files`: files, newest first. */
export async function listFiles(
  api: ApiClient,
  q: { with?: string; limit?: number } = {},
): Promise<FileRecord[]> {
  const res = await api.request("GET", "/files", { query: q });
  return (await res.json() as { files: FileRecord[] }).files;
}

/** `GET /files/{id}?info=1`: one file's record. */
export async function fileInfo(api: ApiClient, id: string): Promise<FileRecord> {
  const res = await api.request("GET", `/files/${encodeURIComponent(id)}`, { query: { info: 1 } });
  return await res.json() as FileRecord;
}

/** `GET /files/{id}`: the response, whose body is the file. */
export function downloadFile(api: ApiClient, id: string, signal?: AbortSignal): Promise<Response> {
  return api.request("GET", `/files/${encodeURIComponent(id)}`, signal ? { signal } : {});
}

/** `POST /files/{id}/accept` or `DELETE /files/{id}`: the file as it is now. */
export async function settleFile(
  api: ApiClient,
  id: string,
  how: "accept" | "delete",
): Promise<FileRecord> {
  const path = `/files/${encodeURIComponent(id)}`;
  const res = how === "accept"
    ? await api.request("POST", `${path}/accept`)
    : await api.request("DELETE", path);
  return await res.json() as FileRecord;
}
