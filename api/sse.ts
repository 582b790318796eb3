/**
 * The journal as a stream: Server-Sent Events (`text/event-stream`) or NDJSON
 * (`application/x-ndjson`), live, or resumed after an event id with no gap and no duplicate.
 *
 * Resuming subscribes first and buffers, replays the journal after the id from `eventsSince`
 * page by page, then drains the buffer skipping ids already sent, then goes live. Every event
 * is sent at most once, in id order. The subscription ends when the client goes away.
 *
 * @module
 */
import type { RouteHandler } from "@hono/zod-openapi";
import type { DaemonService, JournalEvent } from "../daemon/service.ts";
import { utf8 } from "../protocol/mod.ts";
import type { ApiEnv } from "./guard.ts";
import type { routes } from "./routes.ts";

/** Default interval of the keepalive (`: keepalive` comment, or a blank NDJSON line). */
export const KEEPALIVE_MS = 15_000;

/** The reconnect delay announced to SSE clients (`retry:`), in ms. */
export const RETRY_MS = 3_000;

/** Events fetched from the journal per replay step. */
export const REPLAY_PAGE = 500;

/** Events a client may fall behind by before its stream is closed (it can resume). */
export const MAX_LAG = 10_000;

/** Wire format of the stream. */
export type StreamFormat = "sse" | "jsonl";

/** Options of an event stream. */
export interface EventStreamOptions {
  /** Resume after this event id (exclusive); null to send only new events. */
  since: number | null;
  /** Wire format. */
  format: StreamFormat;
  /** Keepalive interval in ms (default 15 s). */
  keepaliveMs?: number;
  /** Ends the stream (server shutdown); a client that goes away cancels it. */
  signal?: AbortSignal;
}

/**
 * Encodes one event as an SSE message: `id:`, `event:`, one-line JSON `data:`.
 *
 * @example
 * ```ts
 * encodeSse({ id: 7, type: "status", data: { id: "m1" } });
 * // "id: 7\nevent: status\ndata: {\"id\":\"m1\"}\n\n"
 * ```
 */
export function encodeSse(e: JournalEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`;
}

/**
 * Encodes one event as an NDJSON line: `{"id", "event", "data"}`.
 *
 * @example
 * ```ts
 * encodeJsonl({ id: 7, type: "status", data: {} }); // "{\"id\":7,\"event\":\"status\",\"data\":{}}\n"
 * ```
 */
export function encodeJsonl(e: JournalEvent): string {
  return JSON.stringify({ id: e.id, event: e.type, data: e.data }) + "\n";
}

/**
 * Makes the byte stream of the journal for one client (see the module doc).
 *
 * @example
 * ```ts
 * const body = eventStream(service, { since: 41, format: "sse" });
 * return new Response(body, { headers: { "content-type": "text/event-stream" } });
 * ```
 */
export function eventStream(
  service: DaemonService,
  opts: EventStreamOptions,
): ReadableStream<Uint8Array> {
  const encode = opts.format === "sse" ? encodeSse : encodeJsonl;
  const keepalive = utf8.encode(opts.format === "sse" ? ": keepalive\n\n" : "\n");
  let state: "replay" | "live" | "closed" = "replay";
  let lastSent = 0;
  let buffer: JournalEvent[] = [];
  let unsubscribe = () => {};
  let timer: ReturnType<typeof setInterval> | undefined;
  let ctl!: ReadableStreamDefaultController<Uint8Array>;

  const stop = () => {
    if (state === "closed") return;
    state = "closed";
    buffer = [];
    unsubscribe();
    clearInterval(timer);
    opts.signal?.removeEventListener("abort", end);
  };
  function end() {
    if (state === "closed") return;
    stop();
    try {
      ctl.close();
    } catch { /* already closed or cancelled */ }
  }
  const send = (e: JournalEvent) => {
    if (state === "closed" || e.id <= lastSent) return;
    lastSent = e.id;
    ctl.enqueue(utf8.encode(encode(e)));
    if ((ctl.desiredSize ?? 0) < -MAX_LAG) end(); // too slow: it resumes from lastSent
  };
  const goLive = () => {
    const held = buffer;
    buffer = [];
    state = "live";
    for (const e of held) send(e);
  };

  return new ReadableStream<Uint8Array>({
    start(c) {
      ctl = c;
      if (opts.signal?.aborted) return end();
      opts.signal?.addEventListener("abort", end);
      unsubscribe = service.subscribe((e) => {
        try { // never throw into the service's event loop
          if (state === "live") send(e);
          else if (state === "replay") {
            buffer.push(e);
            if (buffer.length > MAX_LAG) end();
          }
        } catch {
          end();
        }
      });
      try {
        // Read after subscribing: any later event reaches the subscription.
        const newest = service.lastEventId();
        // A resume point ahead of the journal (it was reset) would hide new events: clamp it.
        lastSent = opts.since === null ? newest : Math.min(opts.since, newest);
        if (opts.format === "sse") c.enqueue(utf8.encode(`retry: ${RETRY_MS}\n\n`));
        if (opts.since === null || lastSent >= newest) goLive();
      } catch (e) {
        stop();
        throw e; // the constructor throws: the route answers 500
      }
      timer = setInterval(() => {
        if (state !== "closed") c.enqueue(keepalive);
      }, opts.keepaliveMs ?? KEEPALIVE_MS);
    },
    pull() {
      if (state !== "replay") return;
      try {
        const before = lastSent;
        for (const e of service.eventsSince(lastSent, REPLAY_PAGE)) send(e);
        // Caught up (or a journal that does not advance: never loop on it).
        if (lastSent === before && state === "replay") goLive();
      } catch {
        end();
      }
    },
    cancel() {
      stop();
    },
  }, new CountQueuingStrategy({ highWaterMark: 16 }));
}

/**
 * The `GET /events` handler (its query and header checked by the route): `?format=sse|jsonl`,
 * resume after `Last-Event-ID` (the header wins, as EventSource resends it on reconnect) or
 * `?since=`.
 *
 * @example
 * ```ts
 * mount(app, routes.events, eventsHandler(service, { keepaliveMs: 15_000 }));
 * ```
 */
export function eventsHandler(
  service: DaemonService,
  opts: { keepaliveMs?: number; closeSignal?: AbortSignal } = {},
): RouteHandler<typeof routes.events, ApiEnv> {
  return (c) => {
    const { format, since: query, since_ts: sinceTs } = c.req.valid("query");
    const since = c.req.valid("header")["Last-Event-ID"] ?? query ??
      (sinceTs === undefined ? undefined : service.eventBefore(sinceTs));
    const type = format === "sse"
      ? "text/event-stream; charset=utf-8"
      : "application/x-ndjson; charset=utf-8";
    // HEAD: Hono drops the body unread, so a stream (and its subscription) would never end.
    if (c.req.method === "HEAD") return new Response(null, { headers: { "content-type": type } });
    const body = eventStream(service, {
      since: since ?? null,
      format,
      keepaliveMs: opts.keepaliveMs,
      // Not the request's signal: Deno.serve's legacy signal also aborts on success. A client
      // that goes away cancels the body stream (at the latest on the next keepalive).
      signal: opts.closeSignal,
    });
    return new Response(body, { headers: { "content-type": type } });
  };
}
