/**
 * The delivery state machine, in memory: two daemons' stores and engines, a fake relay that
 * routes, drops or refuses by rule, and a clock moved by hand. Go-back-N, the window, retries,
 * offline probes, acknowledgements, and memory that never runs ahead of a failed write.
 */
import { isRatchetMessage } from "../../protocol/envelope.ts";
import { assertEquals, assertOk } from "../_assert.ts";
import { BUSY_HOLD_MS, OFFLINE_RETRY_MS, RETRY_MS, WINDOW } from "../../daemon/delivery.ts";
import { waitFor } from "../harness.ts";
import { delivered, pair, received } from "./_delivery_world.ts";

const MSG = 4; // the kind a MSG is recorded with in FakeRelay.overflows
/** A MSG envelope: version 2, a ratchet message (handshakes are version 1). */
const isMsg = (env: Uint8Array) => isRatchetMessage(env);

Deno.test("delivery: messages arrive once, in order, and are delivered after the peer's ack", async () => {
  const { a, b } = await pair();
  const ids = [];
  for (const t of ["one", "two", "three"]) ids.push(await a.send(b, t));
  await delivered(a, ids);
  assertEquals(received(b, a), ["one", "two", "three"]);
  assertEquals(a.outbox.size, 0, "the outbox index is empty once delivered");
  const statuses = a.events.filter((e) => e.type === "status").map((e) => e.data.status);
  assertEquals(statuses.filter((s) => s === "delivered").length, 3);
  assertEquals(a.errors, []);
  assertEquals(b.errors, []);
});

Deno.test("delivery: a dropped MSG is sent again after RETRY_MS; nothing is stored twice", async () => {
  const { a, b, relay, clock } = await pair();
  await delivered(a, [await a.send(b, "warm up")]); // a session exists
  let dropped = 0;
  relay.rule = (from, _to, env) => from === a && isMsg(env) && dropped++ === 0 ? "drop" : "route";
  const acksBefore = relay.seen.filter((s) => s.from === b.idText).length;
  const ids = [await a.send(b, "lost once"), await a.send(b, "after it")];
  // B drops "after it" (a gap) and acknowledges only what it has: nothing moves until a retry.
  await waitFor(
    () => dropped > 0 && relay.seen.filter((s) => s.from === b.idText).length > acksBefore,
    "the drop, and B's ack of what it has",
  );
  assertEquals(received(b, a), ["warm up"]);
  clock.advance(RETRY_MS);
  a.delivery.tick();
  await delivered(a, ids);
  assertEquals(received(b, a), ["warm up", "lost once", "after it"]);
});

Deno.test("delivery: at most WINDOW messages are unacknowledged at once", async () => {
  const { a, b, relay, clock } = await pair();
  await delivered(a, [await a.send(b, "warm up")]);
  // B stops acknowledging: its acks are dropped on the way to A.
  relay.rule = (from, _to, env) => (from === b && isMsg(env) ? "drop" : "route");
  const n = WINDOW + 40;
  const ids = [];
  for (let i = 0; i < n; i++) ids.push(await a.send(b, `m${i}`));
  await waitFor(() => received(b, a).length === 1 + WINDOW, "a window at B");
  const msgs = () => relay.seen.filter((s) => s.from === a.idText && isMsg(s.envelope));
  const before = msgs().length;
  assertEquals(before, 1 + WINDOW, "the window is full: nothing more was sent");
  // Acks flow again; after RETRY_MS without progress A resends the window (B acknowledges the
  // duplicates), then the rest goes.
  relay.rule = () => "route";
  for (let i = 0; i < 10 && a.messages.get(ids[n - 1]!).status !== "delivered"; i++) {
    clock.advance(RETRY_MS);
    a.delivery.tick();
    await waitFor(() => a.outbox.size < n || i > 0, "progress", 5000).catch(() => {});
  }
  await delivered(a, ids, "every message, once the acks flow");
  assertEquals(received(b, a).length, 1 + n);
});

Deno.test("delivery: an offline peer is probed with one message after OFFLINE_RETRY_MS, then the window goes", async () => {
  const { a, b, relay, clock } = await pair();
  await delivered(a, [await a.send(b, "warm up")]);
  let offline = true;
  relay.rule = (from) => (from === a && offline ? "offline" : "route");
  const ids = [];
  for (let i = 0; i < 10; i++) ids.push(await a.send(b, `queued ${i}`));
  await waitFor(() => a.delivery.online(b.idText) === false, "B reported offline");
  const tries = () => relay.seen.filter((s) => s.from === a.idText && s.verdict === "offline");
  const first = tries().length;
  clock.advance(RETRY_MS);
  a.delivery.tick();
  await new Promise((r) => setTimeout(r, 20));
  assertEquals(tries().length, first, "left alone before OFFLINE_RETRY_MS");
  clock.advance(OFFLINE_RETRY_MS);
  a.delivery.tick();
  await waitFor(() => tries().length === first + 1, "one probe");
  await new Promise((r) => setTimeout(r, 20));
  assertEquals(tries().length, first + 1, "a probe is one message, not a window");
  offline = false;
  clock.advance(OFFLINE_RETRY_MS);
  a.delivery.tick();
  await delivered(a, ids);
  assertEquals(received(b, a).length, 11);
});

Deno.test("delivery: a SEND refused as recipient_busy is an ordinary retry", async () => {
  const { a, b, relay, clock } = await pair();
  await delivered(a, [await a.send(b, "warm up")]);
  let busy = 3;
  relay.rule = (
    from,
    _to,
    env,
  ) => (from === a && isMsg(env) && busy-- > 0 ? "rejected" : "route");
  const id = await a.send(b, "eventually");
  await waitFor(() => busy < 3, "the first refusal");
  for (let i = 0; i < 5 && a.messages.get(id).status !== "delivered"; i++) {
    clock.advance(RETRY_MS);
    a.delivery.tick();
    await new Promise((r) => setTimeout(r, 20));
  }
  await delivered(a, [id]);
  assertEquals(received(b, a), ["warm up", "eventually"]);
});

Deno.test("delivery: after a refusal as busy the peer pauses: messages accepted meanwhile do not each resend the window", async () => {
  const { a, b, relay, clock } = await pair();
  await delivered(a, [await a.send(b, "warm up")]);
  let busy = true;
  relay.rule = (from, _to, env) => (from === a && isMsg(env) && busy ? "rejected" : "route");
  const msgsFromA = () => relay.seen.filter((x) => x.from === a.idText && isMsg(x.envelope)).length;
  const before = msgsFromA();
  const first = await a.send(b, "m0");
  await waitFor(() => msgsFromA() > before, "the first refusal");
  // 30 more while the relay still refuses, the clock standing still (within BUSY_HOLD_MS).
  const ids = [first];
  for (let i = 1; i <= 30; i++) ids.push(await a.send(b, `m${i}`));
  await a.serial.run(() => {}); // every pump those sends kicked has run (and sent what it did)
  const during = msgsFromA() - before;
  assertOk(during <= 2, `${during} SENDs for 31 messages while held (was a window per message)`);
  busy = false;
  clock.advance(BUSY_HOLD_MS);
  a.delivery.tick(); // the pause is over: the window goes once
  await delivered(a, ids);
  assertEquals(received(b, a).length, 32);
  assertOk(msgsFromA() - before <= during + 31 + 2, "one window after the pause");
});

Deno.test("delivery: no more is sealed than the link has room for; the rest goes as room frees", async () => {
  const { a, b, relay } = await pair();
  await delivered(a, [await a.send(b, "warm up")]);
  relay.linkRoom = 3;
  const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => a.send(b, `m${i}`)));
  await delivered(a, ids);
  assertEquals(received(b, a).length, 41);
  const refused = relay.overflows.filter((o) => o.from === a.idText && o.kind === MSG);
  assertEquals(refused, [], "never a message the link would refuse as busy");
  assertEquals(a.errors, []);
});

Deno.test("delivery: a write that fails leaves memory as it was (nothing marked, nothing sent)", async () => {
  const { a, b, relay } = await pair();
  await delivered(a, [await a.send(b, "warm up")]);
  // The next session save at A throws: the sealed batch must not leave. (Twice: after a
  // failure the store runs the batch again with a savepoint per operation.)
  const save = a.sessions.save.bind(a.sessions);
  let fail = 2;
  a.sessions.save = (peer, s) => {
    if (fail-- > 0) throw new Error("disk full");
    save(peer, s);
  };
  const sentBefore = relay.seen.filter((s) => s.from === a.idText).length;
  const id = await a.send(b, "after a failed write");
  await waitFor(() => a.errors.length > 0, "the failure reported");
  assertEquals(relay.seen.filter((s) => s.from === a.idText).length, sentBefore, "nothing sent");
  assertEquals(a.messages.get(id).status, "queued");
  assertOk(a.outbox.get(id), "still pending in memory");
  a.delivery.kick(b.idText); // the next try succeeds
  await delivered(a, [id]);
  assertEquals(received(b, a), ["warm up", "after a failed write"]);
});

Deno.test("delivery: group commit: a burst of messages takes few transactions", async () => {
  const { a, b } = await pair();
  await delivered(a, [await a.send(b, "warm up")]);
  const before = { ...a.store.stats };
  const ids = await Promise.all(Array.from({ length: 100 }, (_, i) => a.send(b, `burst ${i}`)));
  await delivered(a, ids);
  const batches = a.store.stats.batches - before.batches;
  const ops = a.store.stats.ops - before.ops;
  assertOk(ops >= 100, `${ops} operations`);
  assertOk(batches <= 20, `100 messages in ${batches} transactions`);
});

Deno.test("delivery: a burst accepted in one turn is sealed in its accepting writes, the session saved once per batch", async () => {
  const { a, b } = await pair();
  await delivered(a, [await a.send(b, "warm up")]); // a session exists
  let saves = 0;
  const save = a.sessions.save.bind(a.sessions);
  a.sessions.save = (peer, session) => {
    saves++;
    save(peer, session);
  };
  const before = a.store.stats.batches;
  const sent = await Promise.all(Array.from({ length: 20 }, (_, i) => a.sendAccepting(b, `b${i}`)));
  assertEquals(sent.filter((s) => !s.sealed).length, 0, "each went in its accepting write");
  assertOk(saves <= a.store.stats.batches - before, `${saves} saves`);
  await delivered(a, sent.map((s) => s.id));
  assertEquals(received(b, a), ["warm up", ...sent.map((_, i) => `b${i}`)]);
  assertEquals([a.errors, b.errors], [[], []]);
});

Deno.test("delivery: a batch run again (one write threw) cancels its seals; order and delivery hold", async () => {
  const { a, b } = await pair();
  await delivered(a, [await a.send(b, "warm up")]);
  const first = [a.sendAccepting(b, "x1"), a.sendAccepting(b, "x2")];
  const bad = a.store.write(() => {
    throw new Error("boom");
  });
  const rest = [a.sendAccepting(b, "x3"), a.sendAccepting(b, "x4")];
  await bad.then(() => assertOk(false, "it threw"), () => {});
  const sent = await Promise.all([...first, ...rest]);
  await delivered(a, sent.map((s) => s.id));
  assertEquals(received(b, a), ["warm up", "x1", "x2", "x3", "x4"]);
  assertEquals([a.errors, b.errors], [[], []]);
});

Deno.test("delivery: a stream is acknowledged in far fewer acks than messages, and all delivered", async () => {
  const { a, b, relay } = await pair();
  await delivered(a, [await a.send(b, "warm up")]);
  const acks = () => relay.seen.filter((s) => s.from === b.idText && isMsg(s.envelope)).length;
  const before = acks();
  const ids = [];
  for (let i = 0; i < 40; i++) ids.push((await a.sendAccepting(b, `s${i}`)).id); // one write each
  await delivered(a, ids);
  const n = acks() - before;
  // The clock stands still: after the first, an ack goes per ACK_EVERY stored or per deferral.
  assertOk(n >= 1 && n <= 20, `${n} acks for 40 messages`);
  assertEquals([a.errors, b.errors], [[], []]);
});
