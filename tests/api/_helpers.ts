/**
 * Helpers of the API tests: a served API over a fake service, raw HTTP over TCP (fetch
 * overrides Host), and a reader that waits on a streamed body's text (no sleeps).
 *
 * @module
 */
import { type ApiServer, createToken, serveApi } from "../../api/mod.ts";
import { FakeService } from "./_fake_service.ts";

/** A served API, its fake service and its token. */
export interface TestApi extends AsyncDisposable {
  /** The server. */
  server: ApiServer;
  /** The fake behind it. */
  fake: FakeService;
  /** The token. */
  token: string;
  /** Base URL. */
  url: string;
  /** Unexpected errors the app reported. */
  internal: unknown[];
  /** fetch with the token (unless `headers` sets authorization itself). */
  fetch(path: string, init?: RequestInit): Promise<Response>;
}

/** Serves the API on 127.0.0.1, port 0, over a new fake. */
export function startApi(opts: { keepaliveMs?: number; originAllowlist?: string[] } = {}): TestApi {
  const fake = new FakeService();
  const token = createToken();
  const internal: unknown[] = [];
  const server = serveApi({
    service: fake,
    token,
    port: 0,
    onInternalError: (e) => internal.push(e),
    ...opts,
  });
  return {
    server,
    fake,
    token,
    url: server.url,
    internal,
    fetch(path, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has("authorization")) headers.set("authorization", `Bearer ${token}`);
      return fetch(server.url + path, { ...init, headers });
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** A raw HTTP response. */
export interface RawResponse {
  /** Status code. */
  status: number;
  /** Headers, lowercase names. */
  headers: Map<string, string>;
  /** The body as text (still chunk-encoded if it was). */
  body: string;
}

/**
 * Sends `head` (and `body`) over TCP and reads one answer, framed by its Content-Length (a
 * server that refused a body early may keep the socket open), else up to EOF.
 */
export async function rawRequest(
  port: number,
  head: string,
  body: Uint8Array | string = "",
): Promise<RawResponse> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const enc = new TextEncoder();
  const bytes = typeof body === "string" ? enc.encode(body) : body;
  const reader = conn.readable.getReader();
  try {
    const w = conn.writable.getWriter();
    await w.write(enc.encode(head.replaceAll("\n", "\r\n") + "\r\n"));
    if (bytes.length > 0) await w.write(bytes).catch(() => {}); // the server may stop reading
    w.releaseLock();
    let text = "";
    const dec = new TextDecoder();
    const complete = () => {
      const split = text.indexOf("\r\n\r\n");
      if (split < 0) return false;
      const len = /^content-length: *(\d+)$/im.exec(text.slice(0, split))?.[1];
      return len !== undefined && enc.encode(text.slice(split + 4)).length >= Number(len);
    };
    while (!complete()) {
      const { done, value } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
    }
    const split = text.indexOf("\r\n\r\n");
    const lines = text.slice(0, split).split("\r\n");
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
    }
    return { status: Number(lines[0]!.split(" ")[1]), headers, body: text.slice(split + 4) };
  } finally {
    await reader.cancel().catch(() => {});
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

/** Reads a streamed body as text, waiting on its content. */
export class StreamText {
  /** Everything read so far. */
  text = "";
  #reader: ReadableStreamDefaultReader<string>;

  /** Reads `res`'s body. */
  constructor(res: Response) {
    this.#reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  }

  /**
   * Reads until `pred(text)` holds; returns the text. Throws if the stream ends first, or after
   * `timeoutMs` (a guard against a hung test, not a wait).
   */
  async until(pred: (text: string) => boolean, timeoutMs = 10_000): Promise<string> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Timed out; read so far:\n${this.text}`)),
        timeoutMs,
      );
    });
    try {
      while (!pred(this.text)) {
        const { done, value } = await Promise.race([this.#reader.read(), timeout]);
        if (done) throw new Error(`Stream ended; read so far:\n${this.text}`);
        this.text += value;
      }
    } finally {
      clearTimeout(timer);
    }
    return this.text;
  }

  /** Reads until the stream ends; returns the text. */
  async end(): Promise<string> {
    while (true) {
      const { done, value } = await this.#reader.read();
      if (done) return this.text;
      this.text += value;
    }
  }

  /** Stops reading (the client goes away). */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

/** The ids of the SSE messages in `text`, in order. */
export function sseIds(text: string): number[] {
  return [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
}
