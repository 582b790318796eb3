/**
 * Issue 10, item 5, the rules in one daemon's store: what a rotation statement carried by an `m`
 * payload does at the receiver (daemon/_payload_in.ts, _rotation_in.ts), and what a rotation
 * queues at the sender (daemon/rotation.ts), without processes or a relay.
 *
 * - A statement with a bad old-key signature, from a stranger's old id, or naming another new id
 *   than its sender is refused: an error event, nothing moved, no contact made.
 * - A valid one moves the contact (name, new key pinned, verified mark cleared), its history,
 *   sequence numbers and queued messages (the outbox index once committed), with a `rotation`
 *   event; the request that the new id's handshake made is replaced; replays change nothing.
 * - At the sender, every row moves to the new identity, queued messages carry the statement,
 *   each contact gets a carrier (outbox, no history), and each message sent after carries it.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { Contacts } from "../../daemon/contacts.ts";
import { openDb } from "../../daemon/db.ts";
import type { DeliveryDeps } from "../../daemon/delivery.ts";
import { Journal } from "../../daemon/journal.ts";
import type { Identity } from "../../daemon/keystore.ts";
import { Messages } from "../../daemon/messages.ts";
import { Outbox } from "../../daemon/outbox.ts";
import { Requests } from "../../daemon/requests.ts";
import { moveIdentity, rotationStatement } from "../../daemon/rotation.ts";
import { Sealer } from "../../daemon/sealer.ts";
import { Self } from "../../daemon/self.ts";
import type { SessionManager } from "../../daemon/sessions.ts";
import { Store } from "../../daemon/store.ts";
import type { JournalEvent } from "../../daemon/service.ts";
import { receiveMessage } from "../../daemon/_payload_in.ts";
import { messagePayload } from "../../daemon/_payload_out.ts";
import { generateDh, randomSecret, signingKeyFromSeed } from "../../protocol/_crypto.ts";
import { toBase64Url } from "../../protocol/bytes.ts";
import { MAX_TEXT_BYTES } from "../../protocol/constants.ts";
import { pad } from "../../protocol/envelope.ts";
import { signStatic } from "../../protocol/e2e_handshake.ts";
import { clientIdFromPublicKey, formatId } from "../../protocol/identity.ts";
import { encodePayload, parsePayload, type Payload } from "../../protocol/payload.ts";
import { ROTATION_BODY_LEN } from "../../protocol/rotation.ts";

async function identity(): Promise<Identity> {
  const signing = await signingKeyFromSeed(randomSecret());
  const e2eKey = await generateDh();
  return {
    id: clientIdFromPublicKey(signing.publicKey),
    signing,
    linkKey: await generateDh(),
    e2eKey,
    vouch: await signStatic(signing, e2eKey.publicKey),
    created: new Date(0).toISOString(),
  };
}

const NOW = 1_700_000_000_000;

/** One daemon's store and the parts receiveMessage uses (sessions: only `forget`). */
async function daemon(me: Identity) {
  const dir = await Deno.makeTempDir({ prefix: "schied-rotation-" });
  const sealer = new Sealer(randomSecret());
  const db = openDb(dir, sealer);
  const store = new Store(db, sealer);
  const self = new Self(me);
  const now = () => NOW;
  const journal = new Journal(store, now);
  const contacts = new Contacts(store, self, now);
  const messages = new Messages(store, journal, self);
  const outbox = new Outbox();
  const forgotten: string[] = [];
  const sessions = { forget: (peer: string) => forgotten.push(peer) } as unknown as SessionManager;
  const requests = new Requests({
    contacts,
    messages,
    sessions,
    outbox,
    myKey: () => me.signing.publicKey,
  });
  const events: JournalEvent[] = [];
  journal.subscribe((e) => events.push(e));
  const d = {
    store,
    self,
    contacts,
    messages,
    outbox,
    sessions,
    requests,
    relay: () => undefined, // no relay client: nothing to watch
  } as unknown as DeliveryDeps;
  /** Opens a payload from `peer` as delivery does: in one write; true if acknowledged. */
  const deliver = (peer: Identity, p: Extract<Payload, { t: "m" }>) =>
    store.write(() => {
      const opened = parsePayload(encodePayload(p)) as typeof p; // as the wire has it
      return receiveMessage(d, formatId(peer.id), opened, NOW);
    });
  const history = (peer: Identity) =>
    messages.list({ peer: formatId(peer.id), since: 0, sinceTs: 0, limit: 100, desc: false })
      .map((m) => `${m.direction} ${m.text}`);
  return {
    db,
    sealer,
    store,
    self,
    contacts,
    messages,
    outbox,
    events,
    forgotten,
    deliver,
    history,
  };
}

type Daemon = Awaited<ReturnType<typeof daemon>>;

function msg(seq: number, text: string, rot?: Uint8Array): Extract<Payload, { t: "m" }> {
  const m: Extract<Payload, { t: "m" }> = { t: "m", id: crypto.randomUUID(), seq, ts: NOW, text };
  if (rot) m.rot = toBase64Url(rot);
  return m;
}

/** Alice, with bob (old identity) as a verified contact named "bob": history both ways. */
async function alicesWorld() {
  const [alice, bobOld, bobNew] = [await identity(), await identity(), await identity()];
  const a = await daemon(alice);
  const oldId = formatId(bobOld.id), newId = formatId(bobNew.id);
  await a.store.write(() => {
    a.contacts.add(oldId, "bob");
    a.contacts.pin(oldId, bobOld.signing.publicKey);
    a.contacts.verify("bob", true);
  });
  assertEquals(await a.deliver(bobOld, msg(1, "hello from old bob")), true);
  const { m } = await a.store.write(() => a.messages.accept(oldId, "for bob", undefined, NOW));
  a.outbox.add(m);
  return { a, alice, bobOld, bobNew, oldId, newId, queued: m };
}

const kinds = (a: Daemon) => a.events.map((e) => e.type);
const errors = (a: Daemon) =>
  a.events.filter((e) => e.type === "error").map((e) => (e.data as { message: string }).message);

function unchanged(w: Awaited<ReturnType<typeof alicesWorld>>): void {
  const bob = w.a.contacts.get(w.oldId)!;
  assertEquals([bob.kind, bob.name, bob.verified], ["contact", "bob", true], "bob as he was");
  assertEquals(toBase64Url(bob.identityKey!), toBase64Url(w.bobOld.signing.publicKey));
  assertOk(w.a.contacts.kindOf(w.newId) !== "contact", "the new id is no contact");
  assertEquals(w.a.history(w.bobOld), ["in hello from old bob", "out for bob"]);
  assertEquals(w.a.outbox.pending(w.oldId, 0, 10).map((m) => m.text), ["for bob"]);
  assertOk(!kinds(w.a).includes("rotation"), "no rotation event");
}

Deno.test("rotation in: a statement with a bad old-key signature is refused; nothing moves", async () => {
  const w = await alicesWorld();
  const good = await rotationStatement(w.bobOld, w.bobNew, NOW);
  const bad = good.slice();
  bad[ROTATION_BODY_LEN + 5]! ^= 1; // in sig_old
  // A carrier (no text): taken in sequence, stored as nothing, no request made.
  assertEquals(await w.a.deliver(w.bobNew, msg(1, "", bad)), true);
  unchanged(w);
  assertEquals(w.a.contacts.kindOf(w.newId), undefined, "no contact and no request");
  assertEquals(errors(w.a).length, 1);
  assertOk(/old key's signature does not verify; nothing was moved/.test(errors(w.a)[0]!));
  // Again (the sender resends): journaled once.
  await w.a.deliver(w.bobNew, msg(1, "", bad));
  assertEquals(errors(w.a).length, 1, "one error per statement");
  // A text that comes with a refused statement is a stranger's: a message request.
  await w.a.deliver(w.bobNew, msg(2, "trust me", bad));
  assertEquals(w.a.contacts.kindOf(w.newId), "request");
  unchanged(w);
});

Deno.test("rotation in: an unknown old id, or a new id other than the sender's, is refused", async () => {
  const w = await alicesWorld();
  const [mallory, malloryNew] = [await identity(), await identity()];
  // A genuine statement, but of an identity alice does not know.
  await w.a.deliver(malloryNew, msg(1, "", await rotationStatement(mallory, malloryNew, NOW)));
  // Bob's genuine statement, replayed by someone else (the relay names the sender).
  await w.a.deliver(mallory, msg(1, "", await rotationStatement(w.bobOld, w.bobNew, NOW)));
  // Bob's old key signing a move onto mallory's key that mallory never signed: a forged sig_new.
  const forged = await rotationStatement(w.bobOld, malloryNew, NOW);
  forged[forged.length - 1]! ^= 1;
  await w.a.deliver(malloryNew, msg(1, "", forged));
  unchanged(w);
  const e = errors(w.a);
  assertEquals(e.length, 3, e.join("\n"));
  assertOk(/old id .* is not a contact/.test(e[0]!), e[0]);
  assertOk(/names .* as the new id, not the sender/.test(e[1]!), e[1]);
  assertOk(/new key's signature does not verify/.test(e[2]!), e[2]);
  for (const x of [mallory, malloryNew]) {
    assertOk(w.a.contacts.kindOf(formatId(x.id)) !== "contact", "never a contact");
  }
});

Deno.test("rotation in: a valid statement moves the contact, its history and queue; verified becomes unverified; replays are harmless", async () => {
  const w = await alicesWorld();
  // The new id's handshake made it a request, with its key pinned (as delivery does).
  await w.a.store.write(() => {
    w.a.contacts.request(w.newId);
    w.a.contacts.pin(w.newId, w.bobNew.signing.publicKey);
  });
  const statement = await rotationStatement(w.bobOld, w.bobNew, NOW);
  // Bob's old id had sent seq 1: the new id goes on at 2 (the carrier), then 3.
  assertEquals(await w.a.deliver(w.bobNew, msg(2, "", statement)), true);
  const bob = w.a.contacts.get(w.newId)!;
  assertEquals([bob.kind, bob.name, bob.verified, bob.keyChanged], ["contact", "bob", false, true]);
  assertEquals(toBase64Url(bob.identityKey!), toBase64Url(w.bobNew.signing.publicKey));
  assertEquals(w.a.contacts.get(w.oldId), undefined, "the old id is gone");
  assertEquals(w.a.contacts.resolve("bob"), w.newId, "the name is the new id's");
  assertEquals(w.a.history(w.bobNew), ["in hello from old bob", "out for bob"], "history moved");
  assertEquals(w.a.history(w.bobOld), []);
  assertEquals(w.a.messages.nextRecvSeq(w.newId), 3, "the old id's numbers, then the carrier");
  assertEquals(w.a.messages.allPending().map((m) => [m.peer, m.text]), [[w.newId, "for bob"]]);
  assertEquals(w.a.outbox.pending(w.newId, 0, 10).map((m) => m.text), ["for bob"], "outbox");
  assertEquals(w.a.outbox.pending(w.oldId, 0, 10), []);
  assertEquals(w.queued.peer, w.newId, "the same pending object, re-addressed");
  assertEquals(w.a.forgotten, [w.oldId], "the old id's sessions are forgotten");
  const ev = w.a.events.filter((e) => e.type === "rotation");
  assertEquals(ev.length, 1);
  const data = ev[0]!.data as Record<string, unknown>;
  assertEquals([data.old_id, data.new_id, data.name, data.was_verified], [
    w.oldId,
    w.newId,
    "bob",
    true,
  ]);
  assertOk(
    String(data.text).startsWith(`bob now uses id ${w.newId}, signed by their old key`),
    String(data.text),
  );
  assertOk(/schied contacts verify bob/.test(String(data.text)), String(data.text));
  assertEquals(errors(w.a), []);

  // Replays: the carrier again (a duplicate), and a message that still carries the statement.
  const before = w.a.events.length;
  assertEquals(await w.a.deliver(w.bobNew, msg(2, "", statement)), true, "re-acknowledged");
  assertEquals(await w.a.deliver(w.bobNew, msg(3, "hi from new bob", statement)), true);
  assertEquals(
    w.a.events.slice(before).map((e) => e.type),
    ["message"],
    "no second rotation, no error",
  );
  assertEquals(w.a.history(w.bobNew), [
    "in hello from old bob",
    "out for bob",
    "in hi from new bob",
  ]);
  // The user confirms again: verified.
  await w.a.store.write(() => w.a.contacts.verify("bob", true));
  assertEquals(w.a.contacts.get(w.newId)!.verified, true);
});

Deno.test("rotation in: a contact with no key pinned yet moves on a statement whose old key hashes to its id", async () => {
  const [alice, bobOld, bobNew] = [await identity(), await identity(), await identity()];
  const a = await daemon(alice);
  const oldId = formatId(bobOld.id), newId = formatId(bobNew.id);
  await a.store.write(() => a.contacts.add(oldId, "bob"));
  await a.deliver(bobNew, msg(1, "hi", await rotationStatement(bobOld, bobNew, NOW)));
  assertEquals(a.contacts.get(newId)?.kind, "contact");
  assertEquals(a.history(bobNew), ["in hi"]);
  assertEquals(a.events.map((e) => e.type), ["rotation", "message"]);
});

Deno.test("rotation out: rows move to the new identity, queued messages carry the statement, each contact gets a carrier", async () => {
  const [bobOld, bobNew, alice, carol, stranger] = [
    await identity(),
    await identity(),
    await identity(),
    await identity(),
    await identity(),
  ];
  const b = await daemon(bobOld);
  const [oldMe, newMe] = [formatId(bobOld.id), formatId(bobNew.id)];
  const [aliceId, carolId] = [formatId(alice.id), formatId(carol.id)];
  await b.store.write(() => {
    b.contacts.add(aliceId, "alice");
    b.contacts.add(carolId, "carol");
    b.contacts.pin(carolId, carol.signing.publicKey);
    b.contacts.verify("carol", true);
  });
  await b.deliver(alice, msg(1, "hi bob"));
  await b.deliver(stranger, msg(1, "who are you"));
  await b.store.write(() => b.messages.accept(aliceId, "queued for alice", undefined, NOW));
  const statement = await rotationStatement(bobOld, bobNew, NOW);
  const told = await b.store.write(() =>
    moveIdentity(b.db, b.sealer, oldMe, newMe, statement, NOW)
  );
  assertEquals(told, [aliceId, carolId].sort());
  b.self.become(bobNew);
  assertEquals(b.contacts.list().map((c) => [c.name, c.verified]), [
    ["alice", false],
    ["carol", false],
  ], "moved; nothing verified (this side's key changed)");
  assertEquals(b.contacts.list("request").map((c) => c.id), [formatId(stranger.id)]);
  assertEquals(b.history(alice), ["in hi bob", "out queued for alice"], "carriers not in history");
  const pending = b.messages.allPending();
  const rot = toBase64Url(statement);
  assertEquals(
    pending.map((m) => [m.peer, m.seq, m.text, m.rot === rot, m.carrier ?? false]),
    [
      [aliceId, 1, "queued for alice", true, false],
      [aliceId, 2, "", true, true],
      [carolId, 1, "", true, true],
    ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
  );
  b.outbox.load(pending);
  assertEquals(b.outbox.carrier(aliceId)?.seq, 2);
  // Payloads: the statement rides along; a text too long for it goes without it.
  const p = messagePayload(b.outbox.carrier(aliceId)!, 1);
  assertEquals([p.text, p.rot], ["", rot]);
  // 10,500 control characters: 63,000 bytes as JSON, which fits the largest class alone.
  const queued = pending.find((m) => !m.carrier)!;
  const long = { ...queued, text: "\u0001".repeat(10_500) };
  assertOk(10_500 < MAX_TEXT_BYTES && messagePayload(long, 1).rot === undefined, "no room");
  pad(encodePayload(messagePayload(long, 1))); // and the text still goes
  assertEquals(messagePayload(queued, 1).rot, rot);
  // Delivered: no status events for a carrier.
  const before = b.events.length;
  await b.store.write(() => b.messages.markDelivered(aliceId, b.outbox.upTo(aliceId, 2)));
  assertEquals(
    b.events.slice(before).map((e) => (e.data as { id: string }).id),
    [queued.id],
    "one status event, the text's",
  );
  b.outbox.remove(b.outbox.upTo(aliceId, 2));
  assertEquals(b.outbox.carrier(aliceId), undefined, "acknowledged");
});

Deno.test("rotation chains: a contact that missed a rotation, or saw it, moves to the newest id; a broken chain is refused", async () => {
  const [alice, bobOld, bobMid, bobNew, mallory] = [
    await identity(),
    await identity(),
    await identity(),
    await identity(),
    await identity(),
  ];
  const [oldId, midId, newId] = [bobOld, bobMid, bobNew].map((i) => formatId(i.id));
  const first = await rotationStatement(bobOld, bobMid, NOW);
  const second = await rotationStatement(bobMid, bobNew, NOW + 1);
  const both = new Uint8Array([...first, ...second]);
  const setUp = async () => {
    const a = await daemon(alice);
    await a.store.write(() => {
      a.contacts.add(oldId!, "bob");
      a.contacts.pin(oldId!, bobOld.signing.publicKey);
    });
    await a.deliver(bobOld, msg(1, "hi"));
    return a;
  };
  // Missed the first rotation: both statements, verified in turn, move bob from the oldest id.
  const a = await setUp();
  await a.deliver(bobNew, msg(2, "", both));
  assertEquals(a.contacts.list().map((c) => [c.id, c.name]), [[newId, "bob"]]);
  assertEquals(a.history(bobNew), ["in hi"]);
  assertEquals(errors(a), []);
  // Saw the first: the chain is taken from the id it has (the middle one).
  const b = await setUp();
  await b.deliver(bobMid, msg(2, "", first));
  assertEquals(b.contacts.list().map((c) => c.id), [midId]);
  await b.deliver(bobNew, msg(3, "", both));
  assertEquals(b.contacts.list().map((c) => [c.id, c.name]), [[newId, "bob"]]);
  assertEquals(b.messages.nextRecvSeq(newId!), 4);
  assertEquals(b.events.filter((e) => e.type === "rotation").length, 2);
  // A chain whose second link is not the first's new key: refused, nothing moved.
  const c = await setUp();
  const broken = new Uint8Array([
    ...first,
    ...await rotationStatement(mallory, bobNew, NOW),
  ]);
  await c.deliver(bobNew, msg(2, "", broken));
  assertEquals(c.contacts.list().map((x) => x.id), [oldId]);
  assertOk(/statement 2 does not continue statement 1/.test(errors(c)[0] ?? ""), errors(c)[0]);
});

Deno.test("rotation out: rotating again before a contact acknowledged makes a chain on the same carrier", async () => {
  const [b0, b1, b2, alice] = [
    await identity(),
    await identity(),
    await identity(),
    await identity(),
  ];
  const b = await daemon(b0);
  const [id0, id1, id2, aliceId] = [b0, b1, b2, alice].map((i) => formatId(i.id));
  await b.store.write(() => b.contacts.add(aliceId!, "alice"));
  const s1 = await rotationStatement(b0, b1, NOW);
  const s2 = await rotationStatement(b1, b2, NOW);
  await b.store.write(() => moveIdentity(b.db, b.sealer, id0!, id1!, s1, NOW));
  await b.store.write(() => moveIdentity(b.db, b.sealer, id1!, id2!, s2, NOW));
  b.self.become(b2);
  const pending = b.messages.allPending();
  assertEquals(pending.map((m) => [m.peer, m.seq, m.carrier]), [[aliceId, 1, true]], "one carrier");
  assertEquals(pending[0]!.rot, toBase64Url(new Uint8Array([...s1, ...s2])));
  assertEquals(
    parsePayload(encodePayload(messagePayload(pending[0]!, 1))).t,
    "m",
    "the chain parses",
  );
});
