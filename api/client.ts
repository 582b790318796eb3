/**
 * A typed client of the local API, one method per route; what the CLI uses. Its bodies and
 * answers are typed by the routes' schemas (routes.ts), imported as types only: the client loads
 * neither zod nor the server.
 *
 * Every failure is an ApiError with a stable code: the API's error codes, plus
 * `daemon_unreachable` (nothing answers: the daemon is not running) and `bad_response`
 * (something answered, but not like the API).
 *
 * @module
 */
import type { z } from "zod";
import type { JournalEvent } from "../daemon/service.ts";
import type { ApiErrorCode } from "./errors.ts";
import type { routes } from "./routes.ts";
import { SseParser } from "./sse_parse.ts";

export type {
  Contact,
  DaemonStatus,
  EventData,
  EventType,
  JournalEvent,
  Me,
  MessageRecord,
  MessageRequest,
  MessageStatus,
} from "../daemon/service.ts";

type Routes = typeof routes;
type JsonSchema<T> = T extends { content: { "application/json": { schema: infer Z } } } ? Z
  : never;

/** The JSON answer of route `K` with status `S`, as its schema (routes.ts) says. */
export type Answer<K extends keyof Routes, S extends keyof Routes[K]["responses"]> = z.output<
  JsonSchema<Routes[K]["responses"][S]> & z.ZodType
>;

/** The JSON body route `K` takes, as its schema says (optional fields may be left out). */
export type BodyOf<K extends keyof Routes> = Routes[K] extends { request: { body: infer B } }
  ? z.input<JsonSchema<B> & z.ZodType>
  : never;

/** The query route `K` takes, as values (the client writes them as text). */
export type QueryOf<K extends keyof Routes> = Routes[K] extends { request: { query: infer Q } }
  ? Partial<z.output<Q & z.ZodType>>
  : never;

/** Codes an ApiError may carry. */
export type ClientErrorCode = ApiErrorCode | "daemon_unreachable" | "bad_response";

/**
 * An error answer of the API, or a failure to reach it (`http` is 0 then).
 *
 * @example
 * ```ts
 * try { await client.send({ to: "bob", text: "hi" }); }
 * catch (e) { if (e instanceof ApiError && e.code === "recipient_unknown") console.log("who?"); }
 * ```
 */
export class ApiError extends Error {
  /**
   * Makes an error; `retryAfterS` is what the answer's Retry-After said (seconds), if it said
   * anything usable.
   */
  constructor(
    readonly code: ClientErrorCode,
    readonly http: number,
    message: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** Retry-After as whole seconds (RFC 9110, delay-seconds; an HTTP date is not used here). */
function retryAfter(res: Response): number | undefined {
  const v = res.headers.get("retry-after");
  return v !== null && /^\d{1,6}$/.test(v) ? Number(v) : undefined;
}

/** Options of the client. */
export interface ApiClientOptions {
  /** The API's base URL, e.g. `http://127.0.0.1:7777`. */
  baseUrl: string;
  /** The bearer token (the api-token file). */
  token: string;
}

type Query = Record<string, string | number | undefined>;

interface Call {
  query?: Query;
  json?: unknown;
  /** A raw body (a file's bytes), instead of `json`. */
  body?: BodyInit;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * The API client.
 *
 * @example
 * ```ts
 * const api = new ApiClient({ baseUrl: "http://127.0.0.1:7777", token });
 * const { id } = await api.send({ to: "alice", text: "hi" });
 * for await (const e of api.events({ since: 0 })) console.log(e.type, e.data);
 * ```
 */
export class ApiClient {
  readonly #base: string;
  readonly #token: string;

  /** Makes a client of the API at `baseUrl`. */
  constructor(opts: ApiClientOptions) {
    this.#base = opts.baseUrl.replace(/\/+$/, "");
    this.#token = opts.token;
  }

  async #fetch(method: string, path: string, call: Call = {}): Promise<Response> {
    const url = new URL(this.#base + path);
    for (const [k, v] of Object.entries(call.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = {
      ...call.headers,
      authorization: `Bearer ${this.#token}`,
    };
    if (call.json !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: call.json === undefined ? call.body : JSON.stringify(call.json),
        signal: call.signal,
      });
    } catch (e) {
      if (call.signal?.aborted) throw e;
      throw new ApiError(
        "daemon_unreachable",
        0,
        `No daemon answers at ${this.#base} (is it running?): ${(e as Error).message}`,
      );
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => "");
    let err: { code?: unknown; message?: unknown } | undefined;
    try {
      err = JSON.parse(text)?.error;
    } catch { /* not JSON: below */ }
    if (typeof err?.code !== "string" || typeof err.message !== "string") {
      throw new ApiError("bad_response", res.status, `HTTP ${res.status}: ${text.slice(0, 200)}`);
    }
    throw new ApiError(err.code as ClientErrorCode, res.status, err.message, retryAfter(res));
  }

  async #json<T>(method: string, path: string, call?: Call): Promise<T> {
    const res = await this.#fetch(method, path, call);
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError("bad_response", res.status, `Not JSON: ${text.slice(0, 200)}`);
    }
  }

  /**
   * Any route, answered 2xx (else an ApiError as for every call): for what has no method here,
   * such as the file routes (client_files.ts).
   */
  request(method: string, path: string, call: Call = {}): Promise<Response> {
    return this.#fetch(method, path, call);
  }

  /** `POST /send`: sends `text` to a client id or contact name; `id` is an idempotency key. */
  send(req: BodyOf<"send">): Promise<Answer<"send", 202>> {
    return this.#json("POST", "/send", { json: req });
  }

  /** `GET /messages`: messages, oldest first. */
  async messages(q: QueryOf<"messages"> = {}): Promise<Answer<"messages", 200>["messages"]> {
    const r = await this.#json<Answer<"messages", 200>>("GET", "/messages", { query: q });
    return r.messages;
  }

  /** `GET /messages/{id}`: one message. */
  message(id: string): Promise<Answer<"message", 200>> {
    return this.#json("GET", `/messages/${encodeURIComponent(id)}`);
  }

  /** `DELETE /messages/{id}`: cancels an outgoing message not yet delivered. */
  cancelMessage(id: string): Promise<Answer<"cancelMessage", 200>> {
    return this.#json("DELETE", `/messages/${encodeURIComponent(id)}`);
  }

  /** `GET /status`. */
  status(): Promise<Answer<"status", 200>> {
    return this.#json("GET", "/status");
  }

  /** `GET /me`. */
  me(): Promise<Answer<"me", 200>> {
    return this.#json("GET", "/me");
  }

  /** `POST /me/rotate`: makes a new identity. */
  rotate(): Promise<Answer<"rotate", 200>> {
    return this.#json("POST", "/me/rotate");
  }

  /** `DELETE /me/retired/{id}`: deletes a retired identity for good. */
  removeRetired(id: string): Promise<Answer<"removeRetired", 200>> {
    return this.#json("DELETE", `/me/retired/${encodeURIComponent(id)}`);
  }

  /** `GET /contacts`. */
  async contacts(): Promise<Answer<"contacts", 200>["contacts"]> {
    return (await this.#json<Answer<"contacts", 200>>("GET", "/contacts")).contacts;
  }

  /** `POST /contacts`: adds a contact. */
  addContact(req: BodyOf<"addContact">): Promise<Answer<"addContact", 201>> {
    return this.#json("POST", "/contacts", { json: req });
  }

  /** `DELETE /contacts/{idOrName}`. */
  async removeContact(idOrName: string): Promise<void> {
    const res = await this.#fetch("DELETE", `/contacts/${encodeURIComponent(idOrName)}`);
    await res.body?.cancel();
  }

  /** `POST /contacts/{idOrName}/verify`: marks a contact verified (or not). */
  verifyContact(idOrName: string, verified = true): Promise<Answer<"verifyContact", 200>> {
    const path = `/contacts/${encodeURIComponent(idOrName)}/verify`;
    const body: BodyOf<"verifyContact"> = { verified };
    return this.#json("POST", path, { json: body });
  }

  /** `GET /requests`: message requests, oldest first. */
  async requests(): Promise<Answer<"requests", 200>["requests"]> {
    return (await this.#json<Answer<"requests", 200>>("GET", "/requests")).requests;
  }

  /** `POST /requests/{id}/accept`: the requester becomes a contact. */
  acceptRequest(id: string, name?: string): Promise<Answer<"acceptRequest", 200>> {
    const path = `/requests/${encodeURIComponent(id)}/accept`;
    const body: BodyOf<"acceptRequest"> = name === undefined ? {} : { name };
    return this.#json("POST", path, { json: body });
  }

  /** `DELETE /requests/{id}`: declines a request. */
  async declineRequest(id: string): Promise<void> {
    const res = await this.#fetch("DELETE", `/requests/${encodeURIComponent(id)}`);
    await res.body?.cancel();
  }

  /** `POST /contacts/{idOrName}/block`. */
  block(idOrName: string): Promise<Answer<"block", 200>> {
    return this.#json("POST", `/contacts/${encodeURIComponent(idOrName)}/block`);
  }

  /** `GET /blocked`. */
  async blocked(): Promise<Answer<"blocked", 200>["blocked"]> {
    return (await this.#json<Answer<"blocked", 200>>("GET", "/blocked")).blocked;
  }

  /** `DELETE /blocked/{id}`: unblocks an id. */
  async unblock(id: string): Promise<void> {
    const res = await this.#fetch("DELETE", `/blocked/${encodeURIComponent(id)}`);
    await res.body?.cancel();
  }

  /** `GET /health` (needs no token). */
  health(): Promise<Answer<"health", 200>> {
    return this.#json("GET", "/health");
  }

  /** `GET /openapi.json`: the API's OpenAPI document. */
  openapi(): Promise<Answer<"openapi", 200>> {
    return this.#json("GET", "/openapi.json");
  }

  /**
   * `GET /events`: the journal after `since` (only new events without it), then live, until
   * `signal` aborts (the iteration then ends) or the loop breaks.
   */
  async *events(
    opts: { since?: number; sinceTs?: number; signal?: AbortSignal } = {},
  ): AsyncGenerator<JournalEvent> {
    const { signal } = opts;
    let res: Response;
    try {
      const query = { since: opts.since, since_ts: opts.sinceTs };
      res = await this.#fetch("GET", "/events", { query, signal });
    } catch (e) {
      if (signal?.aborted) return;
      throw e;
    }
    if (!res.body) throw new ApiError("bad_response", res.status, "The event stream has no body");
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser();
    try {
      while (true) {
        let chunk: ReadableStreamReadResult<string>;
        try {
          chunk = await reader.read();
        } catch (e) {
          if (signal?.aborted) return;
          throw new ApiError("daemon_unreachable", 0, `The event stream broke: ${e}`);
        }
        if (chunk.done) return;
        for (const m of parser.push(chunk.value)) yield toEvent(m.id, m.event, m.data);
      }
    } finally {
      await reader.cancel().catch(() => {});
    }
  }
}

function toEvent(id: string, event: string, data: string): JournalEvent {
  try {
    const n = Number(id);
    const parsed = JSON.parse(data);
    if (Number.isSafeInteger(n) && typeof parsed === "object" && parsed !== null) {
      return { id: n, type: event, data: parsed } as JournalEvent;
    }
  } catch { /* below */ }
  throw new ApiError("bad_response", 200, `Malformed event: id ${id}, data ${data.slice(0, 100)}`);
}
