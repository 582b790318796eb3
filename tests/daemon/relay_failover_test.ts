/**
 * Issue 11, item 8: a daemon with several relay addresses. The list's parsing, and the relay
 * client's failover policy with a fake connector and a fake clock (no sockets, no real waits):
 * every (re)connect is a pass over the list from the first; the first that logs in is kept (a
 * preferred relay coming back does not pull the link away); only a failed pass waits, with the
 * jittered exponential backoff (the long one when every relay refused the login).
 */
import { assertEquals, assertOk, assertThrows } from "../_assert.ts";
import { waitFor } from "../harness.ts";
import { formatRelayAddress } from "../../protocol/address.ts";
import { generateDh } from "../../protocol/_crypto.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { Identity } from "../../daemon/keystore.ts";
import type { LinkClient, LinkClientOptions, LinkClosed } from "../../daemon/link_client.ts";
import {
  AUTH_BACKOFF,
  BACKOFF,
  type OfflineDetail,
  parseRelayList,
  RelayClient,
  type RelayTimers,
} from "../../daemon/relay_client.ts";
import type { RelayState } from "../../daemon/service.ts";

const key1 = (await generateDh()).publicKey;
const key2 = (await generateDh()).publicKey;
const R1 = formatRelayAddress("ws://127.0.0.1:1001/", key1);
const R2 = formatRelayAddress("ws://127.0.0.1:1002/", key2);
const R3 = formatRelayAddress("wss://relay.example/", key1); // the same key on another node

Deno.test("relay list: one address, a comma-separated list, repeated flags; trimmed, each once", () => {
  assertEquals(parseRelayList(R1).map((e) => e.text), [R1]);
  assertEquals(parseRelayList(`${R1},${R2}`).map((e) => e.text), [R1, R2]);
  assertEquals(parseRelayList([R1, ` ${R2} , ${R3}`]).map((e) => e.text), [R1, R2, R3]);
  assertEquals(parseRelayList([R2, `${R1},${R2}`]).map((e) => e.text), [R2, R1]);
  const [a, b] = parseRelayList(`${R1},${R3}`);
  assertEquals(a!.address.url, "ws://127.0.0.1:1001/");
  assertEquals(b!.address.url, "wss://relay.example/");
  assertEquals(b!.address.key, key1);
});

/** `fn` throws a TypeError whose message includes `text`. */
function refuses(fn: () => unknown, text: string): void {
  const e = assertThrows(fn, (e) => e instanceof TypeError);
  assertOk(e.message.includes(text), e.message);
}

Deno.test("relay list: an empty or malformed address is refused, naming which", () => {
  refuses(() => parseRelayList(""), "Cannot parse relay address: it is empty");
  refuses(
    () => parseRelayList(`${R1},,${R2}`),
    "Cannot parse relay address 2 of 3: it is empty (a stray comma?)",
  );
  refuses(() => parseRelayList(`${R1},`), "relay address 2 of 2: it is empty");
  refuses(
    () => parseRelayList([R1, "ws://127.0.0.1:1003/"]),
    "Cannot parse relay address 2 of 2: no #key fragment",
  );
  refuses(
    () => parseRelayList(`http://x/#abc,${R2}`),
    "Cannot parse relay address 1 of 2: scheme http: is not ws: or wss:",
  );
  // One address: the message of a single address, as before.
  refuses(() => parseRelayList("ws://x/"), "Cannot parse relay address: no #key");
});

/** A fake clock: the client's waits are recorded and fire only when the test says so. */
class FakeTimers implements RelayTimers {
  pending: { fn: () => void; ms: number; id: number }[] = [];
  #next = 0;
  set(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.pending.push({ fn, ms, id });
    return id;
  }
  clear(handle: unknown): void {
    this.pending = this.pending.filter((p) => p.id !== handle);
  }
  /** Fires the one pending wait and returns its length. */
  fire(): number {
    assertEquals(this.pending.length, 1, "one wait pending");
    const p = this.pending.shift()!;
    p.fn();
    return p.ms;
  }
}

/** A fake link: open until the test ends it. */
class FakeLink {
  readonly welcome = { maxWatches: 100 };
  #end!: (c: LinkClosed) => void;
  readonly #closed = new Promise<LinkClosed>((r) => this.#end = r);
  closed(): Promise<LinkClosed> {
    return this.#closed;
  }
  end(code: LinkClosed["code"], reason: string): void {
    this.#end({ code, reason });
  }
  close(): Promise<LinkClosed> {
    this.end(null, "bye");
    return this.#closed;
  }
  watch(): void {}
  unwatch(): void {}
}

/** Relays that are up, down or refusing, by URL; records every try. */
class FakeNet {
  up = new Set<string>();
  refusing = new Set<string>();
  tries: string[] = [];
  timeouts: (number | undefined)[] = [];
  links = new Map<string, FakeLink>();
  connect = (o: LinkClientOptions): Promise<LinkClient> => {
    const url = typeof o.address === "string" ? o.address : o.address.url;
    this.tries.push(url);
    this.timeouts.push(o.timeoutMs);
    if (this.refusing.has(url)) {
      return Promise.reject(new ProtocolError("auth_failed", "Relay closed the link: bad key"));
    }
    if (!this.up.has(url)) {
      return Promise.reject(new ProtocolError("internal", "Cannot reach relay: refused"));
    }
    const link = new FakeLink();
    this.links.set(url, link);
    return Promise.resolve(link as unknown as LinkClient);
  };
}

const U1 = "ws://127.0.0.1:1001/";
const U2 = "ws://127.0.0.1:1002/";

function world(list: string, random = () => 0.5) {
  const net = new FakeNet();
  const timers = new FakeTimers();
  const states: { state: RelayState; detail?: OfflineDetail }[] = [];
  const rc = new RelayClient({
    address: list,
    identity: () => ({ signing: {}, linkKey: {} }) as unknown as Identity,
    onDeliver: () => {},
    onPresence: () => {},
    onState: (state, detail) => states.push({ state, ...(detail ? { detail } : {}) }),
    watchList: () => [],
    connectTimeoutMs: 2500,
    connect: net.connect,
    timers,
    random,
  });
  return { net, timers, states, rc };
}

Deno.test("relay failover: the first that answers, kept; a failure starts again from the first; no flapping", async () => {
  const { net, timers, states, rc } = world(`${R1},${R2}`);
  net.up = new Set([U1, U2]);
  rc.start();
  try {
    await waitFor(() => rc.state === "online", "online");
    assertEquals(net.tries, [U1]);
    assertEquals(rc.current.text, R1);
    assertEquals(net.timeouts, [2500], "each try bounded by the connect timeout");

    // R1 goes away: one short wait (the backoff was reset by the login), then R1 is tried
    // first again, refused, and R2 is taken in the same pass.
    net.up.delete(U1);
    net.links.get(U1)!.end(null, "closed (1006)");
    await waitFor(() => timers.pending.length === 1, "the wait after the link closed");
    const off = states.at(-1)!;
    assertEquals(off.state, "offline");
    assertEquals(off.detail?.reason, `${U1}: closed (1006)`);
    assertEquals(off.detail?.retryInMs, BACKOFF.initialMs); // random 0.5: no jitter
    assertEquals(timers.fire(), BACKOFF.initialMs);
    await waitFor(() => rc.state === "online", "online on R2");
    assertEquals(net.tries, [U1, U1, U2]);
    assertEquals(rc.current.text, R2);
    // No offline event inside the pass: connecting, then online.
    assertEquals(states.slice(-2).map((s) => s.state), ["connecting", "online"]);

    // R1 is back: the working link to R2 is kept, nothing is tried, nothing is waited for.
    net.up.add(U1);
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
    assertEquals(net.tries, [U1, U1, U2]);
    assertEquals(timers.pending.length, 0);
    assertEquals(rc.state, "online");

    // R2 fails: the next pass starts from the first, R1, again.
    net.up.delete(U2);
    net.links.get(U2)!.end("idle_timeout", "idle");
    await waitFor(() => timers.pending.length === 1, "the wait after R2 closed");
    assertEquals(states.at(-1)!.detail?.code, "idle_timeout");
    timers.fire();
    await waitFor(() => rc.state === "online", "online on R1 again");
    assertEquals(net.tries, [U1, U1, U2, U1]);
    assertEquals(rc.current.text, R1);
  } finally {
    await rc.stop();
  }
  assertEquals(rc.state, "offline");
});

Deno.test("relay failover: a failed pass waits, jittered and growing to the cap; every relay named", async () => {
  // random 0: each wait is the delay × (1 − jitter), the lowest it can be.
  const { net, timers, states, rc } = world(`${R1},${R2}`, () => 0);
  rc.start();
  try {
    const waits: number[] = [];
    let delay = BACKOFF.initialMs;
    for (let pass = 1; pass <= 14; pass++) {
      await waitFor(() => timers.pending.length === 1, `the wait after pass ${pass}`);
      assertEquals(net.tries.length, pass * 2, "both relays tried each pass, in order");
      assertEquals(net.tries.slice(-2), [U1, U2]);
      const d = states.at(-1)!.detail!;
      assertEquals(d.code, "internal");
      assertEquals(
        d.reason,
        `${U1}: Cannot reach relay: refused; ${U2}: Cannot reach relay: refused`,
      );
      const w = timers.fire();
      assertEquals(w, delay * (1 - BACKOFF.jitter));
      assertEquals(d.retryInMs, Math.round(w));
      waits.push(w);
      delay = Math.min(BACKOFF.maxMs, delay * BACKOFF.factor);
    }
    assertEquals(waits.at(-1), BACKOFF.maxMs * (1 - BACKOFF.jitter), "capped");
    // A relay answers at last: online, and the backoff is back at its start.
    net.up.add(U2);
    await waitFor(() => rc.state === "online", "online on R2");
    net.links.get(U2)!.end(null, "closed (1006)");
    await waitFor(() => timers.pending.length === 1, "the wait after the link closed");
    assertEquals(timers.pending[0]!.ms, BACKOFF.initialMs * (1 - BACKOFF.jitter));
  } finally {
    await rc.stop();
  }
  assertEquals(timers.pending.length, 0, "stop() cancels the wait");
  const tries = net.tries.length;
  for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 0));
  assertEquals(net.tries.length, tries, "nothing tried after stop()");
});

Deno.test("relay failover: the jitter spreads each wait over ±20 %", async () => {
  for (const [r, factor] of [[0, 0.8], [0.999999, 1.2]] as const) {
    const { timers, rc } = world(R1, () => r);
    rc.start();
    try {
      await waitFor(() => timers.pending.length === 1, "the first wait");
      const ms = timers.pending[0]!.ms;
      assertOk(Math.abs(ms - BACKOFF.initialMs * factor) < 0.01, `${ms}`);
    } finally {
      await rc.stop();
    }
  }
});

Deno.test("relay failover: refused by every relay, the long backoff; by some, the short one", async () => {
  const all = world(`${R1},${R2}`, () => 0.5);
  all.net.refusing = new Set([U1, U2]);
  all.rc.start();
  try {
    await waitFor(() => all.timers.pending.length === 1, "the wait");
    assertEquals(all.timers.pending[0]!.ms, AUTH_BACKOFF.initialMs);
    assertEquals(all.states.at(-1)!.detail?.code, "auth_failed");
  } finally {
    await all.rc.stop();
  }
  const some = world(`${R1},${R2}`, () => 0.5);
  some.net.refusing = new Set([U1]);
  some.rc.start();
  try {
    await waitFor(() => some.timers.pending.length === 1, "the wait");
    assertEquals(some.timers.pending[0]!.ms, BACKOFF.initialMs);
    // The refusing relay is first: it is tried again at each pass, then the next one.
    some.timers.fire();
    some.net.up.add(U2);
    await waitFor(() => some.rc.state === "online", "online on R2");
    assertEquals(some.net.tries, [U1, U2, U1, U2]);
  } finally {
    await some.rc.stop();
  }
});

Deno.test("relay failover: one relay behaves as before (reasons not prefixed)", async () => {
  const { net, timers, states, rc } = world(R1);
  net.up.add(U1);
  rc.start();
  try {
    await waitFor(() => rc.state === "online", "online");
    net.links.get(U1)!.end("replaced", "Replaced by a new session");
    await waitFor(() => timers.pending.length === 1, "the wait");
    assertEquals(states.at(-1)!.detail?.reason, "Replaced by a new session");
    net.up.delete(U1);
    timers.fire();
    await waitFor(() => timers.pending.length === 1, "the wait after the failed pass");
    // A replaced session: the wait after it is the longest.
    assertEquals(timers.pending[0]!.ms, BACKOFF.maxMs);
    assertEquals(states.at(-1)!.detail?.reason, "Cannot reach relay: refused");
  } finally {
    await rc.stop();
  }
});
