/**
 * Backpressure to an online peer (daemon/_backlog.ts): the outbox counts messages per peer (a
 * file's payloads apart), a send waits while MAX_BACKLOG are pending to a peer that is online,
 * goes on once messages leave, the peer goes offline or the relay goes down, and is refused as
 * `busy` after the wait; a peer offline or unknown never makes a send wait.
 *
 * @module
 */
import { assertEquals, assertOk, assertRejects } from "../_assert.ts";
import { Backlog, MAX_BACKLOG } from "../../daemon/_backlog.ts";
import { Outbox } from "../../daemon/outbox.ts";
import type { PendingMessage } from "../../daemon/messages.ts";
import { OVERLOAD_RETRY_AFTER_S, ServiceError } from "../../daemon/service.ts";

const BOB = "bob", CAROL = "carol";

function msg(peer: string, seq: number, extra: Partial<PendingMessage> = {}): PendingMessage {
  return {
    id: `${peer}-${seq}`,
    peer,
    seq,
    text: "hi",
    ts: seq,
    createdAt: seq,
    status: "queued",
    ...extra,
  };
}

function world(waitMs = 5_000) {
  const outbox = new Outbox();
  const online = new Set<string>([BOB, CAROL]);
  const backlog = new Backlog({ outbox, delivering: (p) => online.has(p), waitMs });
  outbox.onLeft = (p) => backlog.wake(p);
  const fill = (peer: string, n: number, from = 1) => {
    const ms = Array.from({ length: n }, (_, i) => msg(peer, from + i));
    for (const m of ms) outbox.add(m);
    return ms;
  };
  return { outbox, online, backlog, fill };
}

/** Settles within this turn and the next few microtasks? (true: resolved, error: rejected). */
async function settledSoon(p: Promise<void>): Promise<true | unknown | undefined> {
  let out: true | unknown | undefined;
  p.then(() => (out = true), (e) => (out = e));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return out;
}

Deno.test("backlog: the outbox counts messages per peer, a file's payloads apart, and follows a moved peer", () => {
  const { outbox, fill } = world();
  const texts = fill(BOB, 3);
  outbox.add(msg(BOB, 4, { file: "f1", part: 0 }));
  outbox.add(msg(BOB, 5, { carrier: true, text: "" }));
  assertEquals(outbox.messagesTo(BOB), 4);
  outbox.remove([texts[0]!, texts[0]!]); // twice: counted once
  assertEquals(outbox.messagesTo(BOB), 3);
  outbox.movePeer(BOB, CAROL);
  assertEquals([outbox.messagesTo(BOB), outbox.messagesTo(CAROL)], [0, 3]);
  outbox.load([]);
  assertEquals(outbox.messagesTo(CAROL), 0);
});

Deno.test("backlog: below MAX_BACKLOG, or to a peer offline or unknown, a send goes at once (no promise)", () => {
  const { online, backlog, fill } = world();
  fill(BOB, MAX_BACKLOG - 1);
  assertEquals(backlog.room([BOB]), undefined);
  fill(BOB, 1, MAX_BACKLOG);
  assertOk(backlog.full(BOB));
  online.delete(BOB); // offline (or unknown, or the relay down): the outbox is what it is for
  assertEquals(backlog.room([BOB]), undefined);
  // A file's chunks queued all at once never hold back text.
  const { outbox, backlog: b2 } = world();
  for (let i = 1; i <= 3 * MAX_BACKLOG; i++) outbox.add(msg(CAROL, i, { file: "f", part: i }));
  assertEquals(b2.room([CAROL]), undefined);
});

Deno.test("backlog: a send to a full online peer waits until messages leave, then goes", async () => {
  const { outbox, backlog, fill } = world();
  const ms = fill(BOB, MAX_BACKLOG);
  const wait = backlog.room([BOB])!;
  assertOk(wait instanceof Promise);
  assertEquals(backlog.waiting, 1);
  assertEquals(await settledSoon(wait), undefined);
  outbox.remove([msg(CAROL, 1)]); // not pending: nothing left, nothing woken
  assertEquals(await settledSoon(wait), undefined);
  outbox.remove(ms.slice(0, 1)); // delivered
  assertEquals(await settledSoon(wait), true);
  assertEquals(backlog.waiting, 0);
});

Deno.test("backlog: waiters go on when the peer goes offline or the relay goes down (wake)", async () => {
  const { online, backlog, fill } = world();
  fill(BOB, MAX_BACKLOG);
  const w1 = backlog.room([BOB])!, w2 = backlog.room([BOB])!;
  backlog.wake(BOB); // still full: both keep waiting
  assertEquals([await settledSoon(w1), await settledSoon(w2)], [undefined, undefined]);
  assertEquals(backlog.waiting, 2);
  online.delete(BOB);
  backlog.wake(); // every waiter checks again
  assertEquals([await settledSoon(w1), await settledSoon(w2)], [true, true]);
  assertEquals(backlog.waiting, 0);
});

Deno.test("backlog: a group send waits for each full member in turn", async () => {
  const { outbox, backlog, fill } = world();
  const bob = fill(BOB, MAX_BACKLOG), carol = fill(CAROL, MAX_BACKLOG);
  const wait = backlog.room([BOB, CAROL])!;
  outbox.remove(bob.slice(0, 1));
  assertEquals(await settledSoon(wait), undefined); // Carol is still full
  outbox.remove(carol.slice(0, 1));
  assertEquals(await settledSoon(wait), true);
});

Deno.test("backlog: no room within the wait: busy, Retry-After 1 s, naming the peer and the count", async () => {
  const { backlog, fill } = world(30);
  fill(BOB, MAX_BACKLOG + 5);
  const e = await assertRejects(
    () => backlog.room([BOB])!,
    (e) => e instanceof ServiceError,
  ) as ServiceError;
  assertEquals([e.code, e.retryAfterS], ["busy", OVERLOAD_RETRY_AFTER_S]);
  assertEquals(
    e.message,
    `${MAX_BACKLOG + 5} messages to bob are waiting to be sent; retry in 1 s`,
  );
  assertEquals(backlog.waiting, 0); // the timed-out waiter is gone
});
