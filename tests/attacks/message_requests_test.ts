/**
 * Attack (issue 7, item 8): strangers fill your contacts. Before, any id that wrote became a
 * contact, `contacts rm` was undone by its next message, and once more than the relay's
 * max_watches (1,024) throwaway ids had written, every send to a contact beyond them closed the
 * daemon's relay link with `4013 watch_limit`, in a loop.
 *
 * Now: a stranger's first message is a *message request* (GET /requests, `schied requests`, an
 * SSE `request` event, a stderr notice from `schied listen`), accepted or blocked by the user; a
 * blocked id's envelopes are dropped before any work; pending requests are capped (oldest
 * dropped, with their messages); handshakes with strangers are rate limited together; only
 * contacts are watched, never more than max_watches, and a watch limit never cuts the link.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { Contacts, MAX_REQUESTS } from "../../daemon/contacts.ts";
import { BUDGETS } from "../../daemon/budget.ts";
import { openDb } from "../../daemon/db.ts";
import { Journal } from "../../daemon/journal.ts";
import { Messages } from "../../daemon/messages.ts";
import { Requests } from "../../daemon/requests.ts";
import { Sealer } from "../../daemon/sealer.ts";
import { SessionManager } from "../../daemon/sessions.ts";
import { Self } from "../../daemon/self.ts";
import { Store } from "../../daemon/store.ts";
import { Outbox } from "../../daemon/outbox.ts";
import type { Identity } from "../../daemon/keystore.ts";
import { generateDh, randomSecret } from "../../protocol/_crypto.ts";
import { clientIdFromPublicKey, formatId, parseId } from "../../protocol/identity.ts";
import { connectClient, pumpLines, SCHIED, startRelayProcess, waitFor } from "../harness.ts";
import { cli, type DaemonProcess, startDaemonProcess, waitOnline } from "../daemon_harness.ts";
import { ATTACKER, linkEnd, within } from "./_helpers.ts";
import { E2EPeer, type SeenEvent, watchEvents } from "./_e2e_peer.ts";

const from = (events: SeenEvent[], type: "message" | "request", id: string) =>
  events.filter((e): e is Extract<SeenEvent, { type: "message" | "request" }> =>
    e.type === type && e.data.from === id
  );

/** `schied listen ARGS` against `d`, with its stdout and stderr lines. */
function listen(d: DaemonProcess, args: string[]) {
  const child = new Deno.Command(SCHIED, {
    args: ["listen", "--state-dir", d.stateDir, ...args],
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out: string[] = [], err: string[] = [];
  const pumps = Promise.all([
    pumpLines(child.stdout, (l) => out.push(l)),
    pumpLines(child.stderr, (l) => err.push(l)),
  ]);
  return {
    out,
    err,
    async stop(): Promise<number> {
      child.kill("SIGTERM");
      const s = await within(child.status, "schied listen to exit");
      await pumps;
      return s.code;
    },
  };
}

Deno.test("a stranger's first message is a request, not a contact; accept makes it one; after contacts rm it is a request again", async () => {
  const relay = await startRelayProcess();
  const v = await startDaemonProcess({ relay: relay.address });
  const s = await startDaemonProcess({ relay: relay.address });
  const ev = watchEvents(v.api);
  let l: ReturnType<typeof listen> | undefined;
  try {
    await Promise.all([waitOnline(v), waitOnline(s)]);
    const mark = (await v.api.status()).last_event_id;
    await s.api.send({ to: v.id, text: "hello, it's S" });
    await waitFor(() => from(ev.events, "request", s.id).length === 1, "a request event");
    assertEquals(from(ev.events, "request", s.id)[0]!.data.text, "hello, it's S");
    assertEquals(from(ev.events, "message", s.id), [], "no message event for a request");
    assertEquals((await v.api.contacts()).map((c) => c.id), [], "not a contact");
    const [req, ...more] = await v.api.requests();
    assertEquals(more, []);
    assertEquals([req!.id, req!.messages, req!.last_text], [s.id, 1, "hello, it's S"]);
    assertOk(req!.identity_key, "the requester's key is pinned (from the handshake)");
    // The CLI lists it.
    const ls = await cli(["requests", "--state-dir", v.stateDir]);
    assertEquals(ls.code, 0, ls.stderr);
    assertOk(ls.stdout.includes(s.id) && ls.stdout.includes("hello, it's S"), ls.stdout);
    const lsJson = await cli(["requests", "--json", "--state-dir", v.stateDir]);
    assertEquals(JSON.parse(lsJson.stdout).map((r: { id: string }) => r.id), [s.id]);
    // `schied listen` (replaying from before the request) prints no text on stdout for it,
    // only a notice on stderr.
    l = listen(v, ["--since", String(mark)]);
    const lis = l;
    await waitFor(
      () => lis.err.some((x) => x.includes(`message request from ${s.id}`)),
      "the listen notice on stderr",
    );

    // Accepted, it is a contact named "sam" whose history has the message.
    const acc = await cli(["requests", "accept", s.id, "sam", "--state-dir", v.stateDir]);
    assertEquals(acc.code, 0, acc.stderr);
    assertOk(acc.stdout.includes("now a contact"), acc.stdout);
    assertEquals((await v.api.contacts()).map((c) => [c.id, c.name]), [[s.id, "sam"]]);
    assertEquals(await v.api.requests(), []);
    const history = await v.api.messages({ with: "sam" });
    assertEquals(history.map((m) => [m.direction, m.text]), [["in", "hello, it's S"]]);
    // Its later messages are `message` events, which listen prints.
    await s.api.send({ to: v.id, text: "second" });
    await waitFor(() => from(ev.events, "message", s.id).length === 1, "a message event");
    const msg = from(ev.events, "message", s.id)[0]!;
    assertEquals([msg.data.text, msg.data.from_name], ["second", "sam"]);
    await waitFor(() => lis.out.some((x) => x.endsWith("sam: second")), "listen to print it");
    assertEquals(await l.stop(), 0);
    l = undefined;
    assertOk(!lis.out.some((x) => x.includes("hello, it's S")), `stdout: ${lis.out}`);
    assertEquals(lis.out.length, 1, `only the contact's message on stdout: ${lis.out}`);

    // `contacts rm`, then a new message: a request again, not a contact.
    const rm = await cli(["contacts", "rm", "sam", "--state-dir", v.stateDir]);
    assertEquals(rm.code, 0, rm.stderr);
    assertEquals(await v.api.contacts(), []);
    await s.api.send({ to: v.id, text: "third" });
    await waitFor(() => from(ev.events, "request", s.id).length === 2, "a second request event");
    assertEquals(from(ev.events, "request", s.id)[1]!.data.text, "third");
    assertEquals(from(ev.events, "message", s.id).length, 1, "no new message event");
    assertEquals(await v.api.contacts(), [], "rm is not undone by the next message");
    assertEquals((await v.api.requests()).map((r) => [r.id, r.last_text]), [[s.id, "third"]]);
  } finally {
    ev.stop();
    await l?.stop();
    assertEquals([await v.stop(), await s.stop(), await relay.stop()], [0, 0, 0]);
  }
});

Deno.test("a blocked id gets no answer at all and nothing of it is stored; unblocked, it is answered again", async () => {
  const relay = await startRelayProcess();
  const v = await startDaemonProcess({ relay: relay.address });
  const ev = watchEvents(v.api);
  const peers: E2EPeer[] = [];
  try {
    await waitOnline(v);
    const x = await E2EPeer.connect(relay.address, { localAddress: ATTACKER });
    const y = await E2EPeer.connect(relay.address); // a control: another stranger
    peers.push(x, y);
    // Before the block: X's HS1 is answered, and its message is a request.
    await x.handshake(v.id);
    await x.send(v.id, await x.sealText(v.id, "spam 1"));
    await waitFor(() => from(ev.events, "request", x.id).length === 1, "X's request");
    assertEquals((await v.api.requests()).map((r) => r.id), [x.id]);

    const blk = await cli(["contacts", "block", x.id, "--state-dir", v.stateDir]);
    assertEquals(blk.code, 0, blk.stderr);
    assertOk(blk.stdout.includes(`${x.id}  blocked`), blk.stdout);
    assertEquals(await v.api.blocked(), [x.id]);
    assertEquals(
      (await cli(["contacts", "blocked", "--state-dir", v.stateDir])).stdout.trim(),
      x.id,
    );
    assertEquals(await v.api.requests(), [], "the request and its messages are gone");
    assertEquals(await v.api.messages({ with: x.id }), []);
    const evMark = ev.events.length;

    // X sends a fresh HS1 and a MSG on its old session; then Y sends an HS1, which the victim
    // (handling envelopes in arrival order) answers: by then X's were handled, unanswered.
    const since = x.inbox.length;
    const hs1 = await x.hs1(v.id);
    assertEquals((await x.send(v.id, hs1.envelope)).status, "delivered");
    assertEquals((await x.send(v.id, await x.sealText(v.id, "spam 2"))).status, "delivered");
    const t0 = Date.now();
    await y.handshake(v.id);
    // Y's answer was sent after anything for X; X's link is flushed: a late answer would be in.
    await x.flush();
    assertEquals(x.inbox.slice(since), [], "no HS2, no ack, nothing at all for X");
    assertEquals(x.acks.get(v.id), 1);
    const later = ev.events.slice(evMark);
    assertOk(!later.some((e) => "from" in e.data && e.data.from === x.id), "no event about X");
    // (Y's finished handshake made Y a request, with no message.)
    assertEquals((await v.api.requests()).map((r) => r.id), [y.id], "no request from X");
    assertEquals(await v.api.messages({ with: x.id }), [], "no message from X stored");
    console.log(`blocked: no answer to X within ${Date.now() - t0} ms (Y was answered)`);

    // Unblocked, X is a stranger again: answered, and its message is a request.
    const unb = await cli(["contacts", "unblock", x.id, "--state-dir", v.stateDir]);
    assertEquals(unb.code, 0, unb.stderr);
    assertEquals(await v.api.blocked(), []);
    await x.handshake(v.id);
    // (Its "spam 2" was dropped unread: it is given up, as a daemon's outbox would say.)
    await x.send(v.id, await x.sealText(v.id, "hello again", true));
    await waitFor(() => from(ev.events, "request", x.id).length === 2, "X's request again");
    assertEquals(from(ev.events, "request", x.id)[1]!.data.text, "hello again");
  } finally {
    ev.stop();
    for (const p of peers) await p.close();
    assertEquals([await v.stop(), await relay.stop()], [0, 0]);
  }
});

Deno.test("50 throwaway ids each send an HS1: at most the strangers' burst plus refill are answered; a contact still is", async () => {
  // The relay lets one address log in 51 times at once; the daemon's budget is what is tested.
  const relay = await startRelayProcess({
    args: [
      "--handshake-burst",
      "200",
      "--handshakes-per-ip",
      "200",
      "--max-pending-handshakes-per-ip",
      "200",
    ],
  });
  const v = await startDaemonProcess({ relay: relay.address });
  const peers: E2EPeer[] = [];
  try {
    await waitOnline(v);
    const N = 50;
    const strangers = await Promise.all(
      Array.from({ length: N }, () => E2EPeer.connect(relay.address, { localAddress: ATTACKER })),
    );
    peers.push(...strangers);
    const contact = await E2EPeer.connect(relay.address);
    peers.push(contact);
    await v.api.addContact({ id: contact.id, name: "pal" });
    const hs1s = await Promise.all(strangers.map((p) => p.hs1(v.id)));
    const t0 = Date.now();
    const results = await Promise.all(strangers.map((p, i) => p.send(v.id, hs1s[i]!.envelope)));
    assertOk(results.every((r) => r.status === "delivered"), "the relay delivered every HS1");
    // The contact's handshake comes after all 50 (in the victim's arrival order), once the
    // strangers' budget is spent: it is answered all the same.
    await contact.handshake(v.id);
    const answered = () =>
      strangers.filter((p, i) => p.received(v.id, "hs2").some((r) => r.eid === hs1s[i]!.hid))
        .length;
    const { burst, perMinute } = BUDGETS.handshakesStrangers;
    await waitFor(() => answered() >= burst, "the strangers' burst to be answered", 5000);
    // The contact's HS1 came after all 50 and was answered: every stranger's HS1 was handled
    // before it. Each stranger's link flushed, a late answer would show now.
    await Promise.all(strangers.map((p) => p.flush()));
    const n = answered();
    const elapsedS = (Date.now() - t0) / 1000;
    const bound = burst + Math.ceil(elapsedS * perMinute / 60);
    console.log(
      `strangers' handshakes: ${n}/${N} HS1s answered in ${elapsedS.toFixed(2)} s (burst ` +
        `${burst}, bound ${bound}); the contact's handshake was answered`,
    );
    assertOk(n >= burst, `the burst is served (${n})`);
    assertOk(n <= bound, `${n} answered ≤ burst + refill = ${bound}`);
    assertOk(n < N, "not every stranger was answered");
    // None of them became a request (a bare HS1 stores nothing).
    assertEquals(await v.api.requests(), []);
  } finally {
    for (const p of peers) await p.close();
    assertEquals([await v.stop(), await relay.stop()], [0, 0]);
  }
});

Deno.test("a relay with --max-watches 8 and a daemon with 12 contacts: the link is never cut, every message is delivered", async () => {
  const MAX_WATCHES = 8, N = 12;
  const relay = await startRelayProcess({ args: ["--max-watches", String(MAX_WATCHES)] });
  const w = await startDaemonProcess({ relay: relay.address });
  const ev = watchEvents(w.api);
  const peers: E2EPeer[] = [];
  try {
    await waitOnline(w);
    // Twelve registered ids (they logged in), minimal honest peers that answer and acknowledge.
    peers.push(
      ...await Promise.all(
        Array.from({ length: N }, () => E2EPeer.connect(relay.address, { respond: true })),
      ),
    );
    for (const [i, p] of peers.entries()) {
      const r = await cli(["contacts", "add", p.id, `peer${i}`, "--state-dir", w.stateDir]);
      assertEquals(r.code, 0, r.stderr);
    }
    assertEquals((await w.api.contacts()).length, N);
    const ids: string[] = [];
    for (const [i, p] of peers.entries()) {
      ids.push((await w.api.send({ to: p.id, text: `to peer ${i}` })).id);
    }
    await waitFor(
      async () =>
        (await Promise.all(ids.map((id) => w.api.message(id)))).every((m) =>
          m.status === "delivered"
        ),
      "all 12 messages to be delivered",
      10_000,
    );
    for (const [i, p] of peers.entries()) {
      assertEquals(p.opened.map((m) => m.text), [`to peer ${i}`]);
      assertEquals(p.errors, []);
    }
    // The daemon's link went online once and never went down (no watch_limit close).
    const relayEvents = ev.events.filter((e) => e.type === "relay");
    console.log(
      `watch limit: ${N} contacts, max_watches ${MAX_WATCHES}: relay events ` +
        relayEvents.map((e) => `${e.data.state}${e.data.code ? `(${e.data.code})` : ""}`).join(
          ", ",
        ),
    );
    assertOk(!relayEvents.some((e) => e.data.code === "watch_limit"), "no watch_limit close");
    assertEquals(relayEvents.filter((e) => e.data.state === "online").length, 1);
    assertEquals(relayEvents.filter((e) => e.data.state === "offline"), []);
    assertEquals((await w.api.status()).relay.state, "online");
    // The limit is real: a client that watches all twelve at once is cut off.
    const greedy = await connectClient(relay.address);
    greedy.watch(peers.map((p) => parseId(p.id)).slice(0, MAX_WATCHES + 1));
    assertEquals((await linkEnd(greedy)).code, "watch_limit");
  } finally {
    ev.stop();
    for (const p of peers) await p.close();
    assertEquals([await w.stop(), await relay.stop()], [0, 0]);
  }
});

Deno.test("pending requests are capped at MAX_REQUESTS: the oldest are dropped with their messages and their journal events; so is a declined one's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "schied-requests-cap-" });
  const sealer = new Sealer(randomSecret());
  const db = openDb(dir, sealer);
  try {
    let t = 1_000_000;
    const now = () => t++;
    const store = new Store(db, sealer);
    const self = new Self({
      id: clientIdFromPublicKey(randomSecret()),
      e2eKey: await generateDh(),
      vouch: new Uint8Array(96),
    } as unknown as Identity);
    const journal = new Journal(store, now);
    const contacts = new Contacts(store, self, now);
    const messages = new Messages(store, journal, self);
    const sessions = new SessionManager(store, self, now);
    const outbox = new Outbox();
    const requests = new Requests({
      contacts,
      messages,
      sessions,
      outbox,
      myKey: () => randomSecret(),
    });
    const ids = Array.from(
      { length: MAX_REQUESTS + 5 },
      () => formatId(clientIdFromPublicKey(randomSecret())),
    );
    for (const [i, id] of ids.entries()) {
      db.exec("BEGIN");
      requests.admit(id);
      assertEquals(
        messages.receive(
          id,
          { id: crypto.randomUUID(), seq: 1, ts: now(), text: `m${i}` },
          now(),
          true,
        ),
        "stored",
      );
      db.exec("COMMIT");
    }
    assertEquals(contacts.count("request"), MAX_REQUESTS);
    const listed = requests.list();
    assertEquals(listed.map((r) => r.id), ids.slice(5), "the oldest five were dropped");
    assertOk(listed.every((r) => r.messages === 1), "the kept ones keep their message");
    assertEquals(listed[0]!.last_text, "m5");
    for (const id of ids.slice(0, 5)) {
      assertEquals(contacts.kindOf(id), undefined, "a dropped request is a stranger again");
      assertEquals(messages.countFrom(id), 0, "its messages are gone");
    }
    const stored = Number(
      (db.prepare("SELECT count(*) AS n FROM messages WHERE direction = 'in'").get() as {
        n: number;
      }).n,
    );
    assertEquals(stored, MAX_REQUESTS, "no message of a dropped request is left");
    assertEquals(contacts.count("contact"), 0, "no stranger became a contact");
    // Their texts left the journal too (its events hold them): deleted means gone.
    const events = () =>
      (db.prepare("SELECT id FROM events WHERE type = 'request' ORDER BY id").all() as {
        id: number;
      }[]).map((r) => Number(r.id));
    const ofMessages = () =>
      (db.prepare("SELECT event_id FROM messages WHERE direction = 'in' ORDER BY event_id")
        .all() as { event_id: number }[]).map((r) => Number(r.event_id));
    assertEquals(events(), ofMessages(), "only the kept messages' events are left");
    assertEquals(events().length, MAX_REQUESTS);
    db.exec("BEGIN");
    requests.decline(ids[5]!);
    db.exec("COMMIT");
    assertEquals(events(), ofMessages(), "a declined request's events go too");
    assertEquals(events().length, MAX_REQUESTS - 1);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
