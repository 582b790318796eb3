/**
 * Helpers of the file tests: upload through the API (raw, streamed), wait for a file's state,
 * download, hash. Real daemon processes (tests/daemon_harness.ts); waits on conditions only.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { DaemonProcess } from "../daemon_harness.ts";
import { waitFor } from "../harness.ts";
import type { FileRecord } from "../../daemon/service.ts";

/** Deterministic pseudo-random bytes (xorshift), so that a failure can be replayed. */
export function testBytes(n: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** SHA-256 in hex. */
export function sha256Hex(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/** The API's answer to a request with the daemon's token. */
export function api(d: DaemonProcess, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${d.token}`);
  return fetch(`${d.apiUrl}${path}`, { ...init, headers });
}

/** PUT /files with `bytes` as a raw body; the answer's record (throws on an error status). */
export async function upload(
  d: DaemonProcess,
  to: string,
  bytes: Uint8Array,
  name = "data.bin",
): Promise<FileRecord> {
  const q = new URLSearchParams({ to, name });
  const res = await api(d, `/files?${q}`, {
    method: "PUT",
    body: bytes as Uint8Array<ArrayBuffer>,
  });
  const body = await res.json();
  if (res.status !== 202) throw new Error(`upload: ${res.status} ${JSON.stringify(body)}`);
  return body as FileRecord;
}

/** One file's record at `d`, or undefined. */
export async function fileAt(d: DaemonProcess, id: string): Promise<FileRecord | undefined> {
  const res = await api(d, `/files/${id}?info=1`);
  if (res.status === 404) {
    await res.body?.cancel();
    return undefined;
  }
  return await res.json() as FileRecord;
}

/** Waits until file `id` at `d` is in `state` (fails at once if it failed instead). */
export async function waitFileState(
  d: DaemonProcess,
  id: string,
  state: FileRecord["state"],
  timeoutMs = 60_000,
): Promise<FileRecord> {
  return await waitFor(
    async () => {
      const f = await fileAt(d, id).catch(() => undefined);
      if (f?.state === "failed" && state !== "failed") {
        throw new Error(`file ${id} failed: ${f.reason}`);
      }
      return f?.state === state ? f : undefined;
    },
    `file ${id} ${state}`,
    timeoutMs,
  );
}

/** GET /files/{id}: the bytes. */
export async function download(d: DaemonProcess, id: string): Promise<Uint8Array> {
  const res = await api(d, `/files/${id}`);
  if (res.status !== 200) throw new Error(`download: ${res.status} ${await res.text()}`);
  return new Uint8Array(await res.arrayBuffer());
}
