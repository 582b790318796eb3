/**
 * The end-to-end load generator, the same for the daemon API and the bare HTTP reference:
 * `POST /send` senders (closed or open loop, over keep-alive connections from Deno's fetch
 * pool) and one `GET /events` reader that times each `message` event's arrival.
 *
 * Each message's text is `bench <tag> <t>`, `t` being `performance.now()` when its POST
 * started; the reader runs in this process, so the same clock gives the latency from the start
 * of `POST /send` at A to the SSE event at B.
 *
 * @module
 */

/** Where to send: an API base URL, its bearer token (null: none), the recipient. */
export interface HttpTarget {
  url: string;
  token: string | null;
  to: string;
}

/** What the senders saw. */
export interface SendTally {
  /** Requests answered, by HTTP status. */
  byStatus: Record<number, number>;
  /** Requests that failed without an answer (connection refused or reset, timeout). */
  failed: number;
  /** Those failures by the last clause of their cause's message. */
  failures: Record<string, number>;
  /** Open loop: sends not made because `maxOutstanding` requests were already open. */
  skipped: number;
  /** Time from the start of each POST to its answer, ms. */
  answerMs: number[];
}

const headers = (t: { token: string | null }): Record<string, string> => ({
  "content-type": "application/json",
  ...(t.token ? { authorization: `Bearer ${t.token}` } : {}),
});

async function post(t: HttpTarget, tag: string, tally: SendTally): Promise<void> {
  const start = performance.now();
  try {
    const res = await fetch(`${t.url}/send`, {
      method: "POST",
      headers: headers(t),
      body: JSON.stringify({ to: t.to, text: `bench ${tag} ${start.toFixed(3)}` }),
      signal: AbortSignal.timeout(30_000),
    });
    await res.arrayBuffer(); // read to the end, so the connection goes back to the pool
    tally.byStatus[res.status] = (tally.byStatus[res.status] ?? 0) + 1;
    tally.answerMs.push(performance.now() - start);
  } catch (e) {
    tally.failed++;
    // The cause's last clause ("connection closed before message completed"), without ports.
    const cause = (e as Error).cause as Error | undefined;
    const m = String(cause?.message ?? (e as Error).message).split(": ").at(-1)!.slice(0, 80);
    tally.failures[m] = (tally.failures[m] ?? 0) + 1;
  }
}

const newTally = (): SendTally => ({
  byStatus: {},
  failed: 0,
  failures: {},
  skipped: 0,
  answerMs: [],
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** `senders` loops, each posting and awaiting the answer before the next, for `seconds`. */
export async function closedLoopSend(
  t: HttpTarget,
  o: { senders: number; seconds: number; tag: string },
): Promise<SendTally> {
  const tally = newTally();
  const end = performance.now() + o.seconds * 1000;
  await Promise.all(Array.from({ length: o.senders }, async () => {
    while (performance.now() < end) await post(t, o.tag, tally);
  }));
  return tally;
}

/** `rate` POSTs per second for `seconds`, whatever the answers, at most `maxOutstanding` open. */
export async function openLoopSend(
  t: HttpTarget,
  o: { rate: number; seconds: number; tag: string; maxOutstanding: number },
): Promise<SendTally> {
  const tally = newTally();
  const open = new Set<Promise<void>>();
  const t0 = performance.now();
  const total = Math.round(o.rate * o.seconds);
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor((o.rate * (performance.now() - t0)) / 1000));
    for (; sent < due; sent++) {
      if (open.size >= o.maxOutstanding) {
        tally.skipped++;
        continue;
      }
      const p: Promise<void> = post(t, o.tag, tally).finally(() => open.delete(p));
      open.add(p);
    }
    if (sent < total) await sleep(1);
  }
  await Promise.all(open);
  return tally;
}

/** Arrivals of one tag at the event stream. */
export interface TagArrivals {
  /** Events of this tag seen so far. */
  total: number;
  /** Of them, those that arrived by `end`. */
  byEnd: number;
  /** Latency of each, ms. */
  latMs: number[];
  /** performance.now() after which arrivals no longer count in byEnd. */
  end: number;
}

/** Counts `message` events by tag. */
export class Arrivals {
  readonly #tags = new Map<string, TagArrivals>();
  /** Events that carried no tag being counted. */
  strays = 0;

  /** Starts counting `tag`; arrivals after `end` count in total but not in byEnd. */
  expect(tag: string, end = Infinity): TagArrivals {
    const s = { total: 0, byEnd: 0, latMs: [], end };
    this.#tags.set(tag, s);
    return s;
  }

  /** Feeds one event's text (`bench <tag> <t>`), received at `now`. */
  onText(text: string, now: number): void {
    const [word, tag, t] = text.split(" ");
    const s = word === "bench" && tag !== undefined ? this.#tags.get(tag) : undefined;
    if (!s) return void this.strays++;
    s.total++;
    if (now <= s.end) s.byEnd++;
    s.latMs.push(now - Number(t));
  }
}

/** Reads `GET /events` (SSE) and hands each `message` event's text to `arrivals`. */
export async function readEvents(
  t: { url: string; token: string | null },
  arrivals: Arrivals,
): Promise<{ close(): void }> {
  const ac = new AbortController();
  const res = await fetch(`${t.url}/events`, { headers: headers(t), signal: ac.signal });
  if (!res.ok || !res.body) throw new Error(`GET /events answered ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  (async () => {
    let buf = "";
    while (true) {
      const { value, done } = await reader.read();
      if (done) return;
      const now = performance.now();
      buf += value;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (!block.includes("\nevent: message\n")) continue;
        const data = block.slice(block.indexOf("\ndata: ") + 7);
        arrivals.onText((JSON.parse(data) as { text: string }).text, now);
      }
    }
  })().catch(() => {});
  return { close: () => ac.abort() };
}

/** Waits (bounded) until `cond()`; true if it came. */
export async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) return false;
    await sleep(5);
  }
  return true;
}
