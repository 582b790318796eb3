/**
 * Issue 10, "Crash": the receiving daemon is killed with SIGKILL 100 times while a stream of real
 * numbered messages arrives, each time at another moment (before it is online, as soon as it is,
 * with a DELIVER handed to its link, right after the sender's API took a message, after one or two
 * new messages were journaled), and restarted on the same state dir. In the end every message is
 * `delivered` at the sender, and the receiver has each exactly once, in order, without gaps, with
 * its text; the message events seen live across all 100 restarts (resumed with `since`) show none
 * twice, and none that the final journal does not have.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import type { JournalEvent } from "../../daemon/service.ts";
import { type RelayProcess, startRelayProcess, waitFor } from "../harness.ts";
import { type DaemonProcess, startDaemonProcess, waitOnline } from "../daemon_harness.ts";

const RESTARTS = 100;
/** Generous bound of the whole loop (it takes ~1 minute). */
const LOOP_MS = 240_000;

/** A daemon's event stream from `since`, with waits that wake on each event (no polling). */
class Live {
  readonly events: JournalEvent[] = [];
  readonly #ac = new AbortController();
  #wake: (() => void)[] = [];
  readonly done: Promise<void>;

  constructor(d: DaemonProcess, since: number) {
    this.done = (async () => {
      try {
        for await (const e of d.api.events({ since, signal: this.#ac.signal })) {
          this.events.push(e);
          for (const w of this.#wake.splice(0)) w();
        }
      } catch {
        // the daemon was killed: the stream broke
      }
      for (const w of this.#wake.splice(0)) w();
    })();
  }

  /** Message events so far. */
  messages(): Extract<JournalEvent, { type: "message" }>[] {
    return this.events.filter((e): e is Extract<JournalEvent, { type: "message" }> =>
      e.type === "message"
    );
  }

  /** Resolves once `cond()` holds, checked at each event; throws after `ms`. */
  async until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
    const end = Date.now() + ms;
    for (let i = 0; i < 100_000 && !cond(); i++) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.#wake.push(r);
        timer = setTimeout(r, left);
      });
      clearTimeout(timer);
    }
    if (!cond()) throw new Error(`gave up waiting for ${what}`);
  }

  stop(): void {
    this.#ac.abort();
  }
}

/** The relay's count of envelopes handed to a recipient's link. */
async function handedOver(relay: RelayProcess): Promise<number> {
  const m = await (await fetch(`${relay.metrics}/metrics`)).text();
  return Number(/^schied_envelopes_delivered_total (\d+)$/m.exec(m)?.[1] ?? NaN);
}

/** The whole journal of `d` (up to its last event id at the time of the call). */
async function journal(d: DaemonProcess): Promise<JournalEvent[]> {
  const last = (await d.api.status()).last_event_id;
  const out: JournalEvent[] = [];
  if (last === 0) return out;
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), 15_000);
  try {
    for await (const e of d.api.events({ since: 0, signal: ac.signal })) {
      out.push(e);
      if (e.id >= last) break;
    }
  } finally {
    clearTimeout(t);
  }
  assertOk(out.at(-1)?.id === last, `the journal read up to ${last}`);
  return out;
}

Deno.test("crash loop: the receiver killed -9 100 times while messages arrive; nothing lost, nothing twice", async () => {
  const t0 = Date.now();
  const relay = await startRelayProcess();
  const a = await startDaemonProcess({ relay: relay.address });
  let b = await startDaemonProcess({ relay: relay.address });
  const bDir = b.stateDir;
  const bId = b.id;
  const started: DaemonProcess[] = [b];
  const texts: string[] = []; // texts[n - 1] is `crash loop #n`
  const ids: string[] = [];
  const seen: Extract<JournalEvent, { type: "message" }>[] = []; // live, across restarts
  let since = 0;
  const kinds = new Map<string, number>();
  let startMs = 0;
  let unjournaled = 0; // kills that left a message sent in that cycle not yet journaled
  try {
    await Promise.all([waitOnline(a), waitOnline(b)]);
    await a.api.addContact({ id: b.id, name: "bob" });
    await b.api.addContact({ id: a.id, name: "alice" });
    // The session is up before the loop (B writes first: A's messages are seq 1, 2, …).
    const hi = await b.api.send({ to: a.id, text: "ready" });
    await waitFor(async () => (await b.api.message(hi.id)).status === "delivered", "warm-up");
    since = (await b.api.status()).last_event_id;
    assertEquals(await b.stop(), 0);

    const send = async (): Promise<void> => {
      const n = texts.length + 1;
      const text = `crash loop #${n}`;
      texts.push(text);
      const r = await a.api.send({ to: "bob", text });
      ids[n - 1] = r.id;
    };
    /** Sends `k` messages at once (their numbers are taken in order before any is awaited). */
    const burst = (k: number) => Promise.all(Array.from({ length: k }, () => send()));

    const loopEnd = Date.now() + LOOP_MS;
    for (let i = 0; i < RESTARTS; i++) {
      assertOk(Date.now() < loopEnd, `the loop took over ${LOOP_MS} ms (at restart ${i})`);
      const kind = i % 6;
      // Messages queued at A while B is down: A sends them when B's presence comes back.
      if (kind === 0) await burst(2);
      if (kind === 1) await send();
      const s0 = Date.now();
      b = await startDaemonProcess({ stateDir: bDir });
      startMs += Date.now() - s0;
      started.push(b);
      assertEquals(b.id, bId);
      const live = new Live(b, since);
      const before = () => live.messages().length;
      const sentBefore = texts.length;
      let name: string;
      switch (kind) {
        case 0: // as soon as its API is up: logging in, the queued DELIVERs not yet there
          name = "api-up";
          break;
        case 1: // as soon as it is online: A's resends are on their way
          name = "online";
          await waitOnline(b);
          break;
        case 2: // after the first new message was journaled, with two more behind it
        case 3: { // after the second
          const k = kind - 1;
          name = `journaled-${k}`;
          await waitOnline(b);
          const base = before();
          await burst(3);
          await live.until(() => live.messages().length >= base + k, `${k} new message(s)`);
          break;
        }
        case 4: // right after A's API took two messages: both are in flight
          name = "after-send";
          await waitOnline(b);
          await send();
          await send();
          break;
        default: { // once the relay handed an envelope to B's link: B is receiving it
          name = "handed-over";
          await waitOnline(b);
          const base = await handedOver(relay);
          await burst(3);
          let n = 0;
          for (; n < 5_000 && await handedOver(relay) <= base; n++) {
            assertOk(Date.now() < loopEnd, "the relay handed nothing over");
          }
          break;
        }
      }
      b.kill("SIGKILL");
      const st = await b.exited;
      assertOk(!st.success, `B was killed (restart ${i}, ${name})`);
      // What the stream showed before the kill counts as shown; the next B resumes after it.
      await live.done;
      seen.push(...live.messages());
      if (texts.length > sentBefore && seen.length < texts.length) unjournaled++;
      since = Math.max(since, ...live.events.map((e) => e.id));
      kinds.set(name, (kinds.get(name) ?? 0) + 1);
    }
    const loopMs = Date.now() - t0;

    // The last B stays up: everything reaches it.
    b = await startDaemonProcess({ stateDir: bDir });
    started.push(b);
    const live = new Live(b, since);
    await waitOnline(b);
    const n = texts.length;
    await waitFor(
      async () => {
        const out = (await a.api.messages({ with: bId, limit: 1000 }))
          .filter((m) => m.direction === "out");
        return out.length === n && out.every((m) => m.status === "delivered");
      },
      `all ${n} messages delivered`,
      60_000,
    );
    await live.until(() => live.messages().length + seen.length >= n, "the last events", 15_000);
    live.stop();
    await live.done;
    seen.push(...live.messages());

    // A's side: n messages, numbered 1..n in the order A's API took them (a burst's sends race,
    // so the number in a text need not be its seq), every id and text once.
    const out = (await a.api.messages({ with: bId, limit: 1000 }))
      .filter((m) => m.direction === "out").toSorted((x, y) => x.seq - y.seq);
    const oneToN = Array.from({ length: n }, (_, k) => k + 1);
    assertEquals(out.map((m) => m.seq), oneToN);
    assertEquals(out.map((m) => m.id).toSorted(), ids.toSorted());
    assertEquals(out.map((m) => m.text).toSorted(), texts.toSorted());
    // B's history: each message once, in order, seq 1..n, the right id and text.
    const got = (await b.api.messages({ with: a.id, limit: 1000 }))
      .filter((m) => m.direction === "in");
    assertEquals(got.map((m) => m.seq), oneToN, "no gaps, none twice, in order");
    assertEquals(got.map((m) => [m.seq, m.id, m.text]), out.map((m) => [m.seq, m.id, m.text]));
    assertOk(got.every((m) => m.status === "delivered"));

    // Shown live across the restarts: every message exactly once, under one event id each.
    const shownIds = seen.map((e) => e.data.id);
    const twice = shownIds.filter((x, k) => shownIds.indexOf(x) !== k);
    assertEquals(twice, [], "no message event shown twice");
    assertEquals(new Set(seen.map((e) => e.id)).size, seen.length, "event ids unique");
    assertEquals(shownIds.toSorted(), ids.toSorted(), "every message shown");
    assertEquals(
      seen.map((e) => [e.data.seq, e.data.id, e.data.text]),
      got.map((m) => [m.seq, m.id, m.text]),
      "shown in order, with the texts",
    );
    // The final journal has exactly those events (none was shown and then lost).
    const all = (await journal(b)).filter((e) => e.type === "message");
    assertEquals(
      all.map((e) => [e.id, e.data.id]),
      seen.map((e) => [e.id, e.data.id]),
      "the journal is what was shown",
    );
    console.log(
      `crash loop: ${RESTARTS} kills (${unjournaled} with a message in flight), ${n} messages, ` +
        `loop ${loopMs} ms ` +
        `(daemon start ${Math.round(startMs / RESTARTS)} ms avg), kinds ${
          JSON.stringify(Object.fromEntries(kinds))
        }`,
    );
    assertEquals(await b.stop(), 0);
  } finally {
    for (const d of started) d.kill("SIGKILL"); // all but the last are gone already
    await Promise.all(started.map((d) => d.exited));
    const codes = [await a.stop(), await relay.stop()];
    assertEquals(codes, [0, 0]);
  }
});
