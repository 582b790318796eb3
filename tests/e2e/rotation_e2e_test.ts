/**
 * Issue 10, item 5, with real processes: `schied id --rotate` tells every contact. Alice and bob
 * are contacts (alice verified bob). While alice is offline, bob queues a message, rotates
 * through his running daemon, and queues another: when alice comes back, her daemon shows the
 * rotation ("bob now uses id …, signed by their old key"), moves bob (name, history, unverified)
 * to the new id, and both messages arrive from it, in order; what alice then sends to "bob"
 * reaches the new id once she verified it again (a verified contact's key change is held: sends
 * are refused as `key_changed`, queued messages wait). Then the offline path: alice queues a message for bob while he is away,
 * bob rotates with no daemon running, and his next start tells alice, whose queued message
 * follows him to the newest id.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { startRelayProcess, waitFor } from "../harness.ts";
import {
  cli,
  collectEvents,
  type DaemonProcess,
  spawnCli,
  startDaemonProcess,
  waitOnline,
} from "../daemon_harness.ts";
import type { JournalEvent } from "../../daemon/service.ts";

type Rotation = Extract<JournalEvent, { type: "rotation" }>;

/** The texts of a conversation, as `direction text`, oldest first. */
async function history(d: DaemonProcess, withWhom: string): Promise<string[]> {
  return (await d.api.messages({ with: withWhom })).map((m) => `${m.direction} ${m.text}`);
}

async function delivered(d: DaemonProcess, id: string): Promise<boolean> {
  return (await d.api.message(id)).status === "delivered";
}

Deno.test("id --rotate: contacts are told, move to the new id with history and queued messages, online and offline", async () => {
  const relay = await startRelayProcess();
  let a = await startDaemonProcess({ relay: relay.address });
  let b = await startDaemonProcess({ relay: relay.address });
  const stops: (() => unknown)[] = [];
  try {
    await Promise.all([waitOnline(a), waitOnline(b)]);
    await a.api.addContact({ id: b.id, name: "bob" });
    await b.api.addContact({ id: a.id, name: "alice" });
    const hi = await a.api.send({ to: "bob", text: "hello bob" });
    await waitFor(() => delivered(a, hi.id), "alice's first message delivered");
    const back = await b.api.send({ to: "alice", text: "hello alice" });
    await waitFor(() => delivered(b, back.id), "bob's answer delivered");
    await a.api.verifyContact("bob");
    const oldId = b.id;

    // Alice goes offline; bob queues, rotates (through his daemon), queues again.
    assertEquals(await a.stop(), 0);
    const before = await b.api.send({ to: "alice", text: "queued before rotation" });
    const rot = await cli(["id", "--rotate", "--state-dir", b.stateDir]);
    assertEquals(rot.code, 0, rot.stderr);
    const newId = rot.stdout.trim();
    assertOk(newId !== oldId, "a new id");
    const bc = await b.api.contacts();
    assertEquals(bc.map((c) => [c.id, c.name, c.verified]), [[a.id, "alice", false]]);
    assertEquals(await history(b, "alice"), [
      "in hello bob",
      "out hello alice",
      "out queued before rotation",
    ], "bob's history moved with him (the carrier is not part of it)");
    await waitOnline(b);
    const after = await b.api.send({ to: "alice", text: "queued after rotation" });

    // Alice is back: the rotation is shown and applied; both messages arrive from the new id.
    a = await startDaemonProcess({ relay: relay.address, stateDir: a.stateDir });
    const ev = collectEvents(a);
    stops.push(ev.stop);
    const shown = await waitFor(
      () => ev.events.find((e): e is Rotation => e.type === "rotation"),
      "alice's rotation event",
      20_000,
    );
    assertEquals(
      [shown.data.old_id, shown.data.new_id, shown.data.name, shown.data.was_verified],
      [oldId, newId, "bob", true],
    );
    assertOk(
      shown.data.text.startsWith(`bob now uses id ${newId}, signed by their old key`),
      shown.data.text,
    );
    // `schied listen` shows it as a notice on stderr (stdout carries only messages).
    const listen = spawnCli(["listen", "--since", "0", "--state-dir", a.stateDir], {
      stdin: "null",
    });
    stops.push(() => listen.stop());
    await waitFor(
      () => listen.err.find((l) => l === `schied: ${shown.data.text}`),
      "listen's notice of the rotation",
    );
    assertOk(!listen.out.some((l) => l.includes("now uses id")), listen.out.join("\n"));
    // With --json, a script learns of it too: the rotation event as a JSON line on stdout.
    const json = spawnCli(["listen", "--json", "--since", "0", "--state-dir", a.stateDir], {
      stdin: "null",
    });
    stops.push(() => json.stop());
    await waitFor(
      () => json.out.map((l) => JSON.parse(l)).find((l) => l.event === "rotation"),
      "listen --json's rotation line",
    );
    await waitFor(
      () => delivered(b, before.id).then(async (x) => x && await delivered(b, after.id)),
      "bob's queued messages delivered to alice",
      20_000,
    );
    const ac = await a.api.contacts();
    assertEquals(ac.map((c) => [c.id, c.name, c.verified, c.key_changed]), [
      [newId, "bob", false, true],
    ]);
    assertEquals(ac[0]!.identity_key, (await b.api.me()).identity_key, "the new key is pinned");
    assertEquals(await history(a, "bob"), [
      "out hello bob",
      "in hello alice",
      "in queued before rotation",
      "in queued after rotation",
    ]);
    assertEquals(await a.api.requests(), [], "the new id is no message request");
    // The journal from the start: "hello alice" from the old id; the rotation before any message
    // of the new id, which are messages of a contact (not requests).
    const from = (e: JournalEvent) =>
      e.type === "message" || e.type === "request" ? e.data.from : "";
    const at = ev.events.indexOf(shown);
    assertEquals(ev.events.slice(0, at).filter(from).map(from), [oldId]);
    assertEquals(
      ev.events.slice(at).filter(from).map((e) => `${e.type} ${from(e)}`),
      [`message ${newId}`, `message ${newId}`],
    );

    // Alice had verified bob: nothing goes to his new key until she verifies it again.
    const early = await cli(["send", "bob", "too soon", "--state-dir", a.stateDir]);
    assertEquals(early.code, 1, early.stderr);
    assertOk(
      /^schied: error: bob was verified and now uses a new key/.test(early.stderr),
      early.stderr,
    );
    assertOk(/schied: hint: .*schied contacts verify NAME/.test(early.stderr), early.stderr);
    const ls = await cli(["contacts", "ls", "--state-dir", a.stateDir]);
    assertOk(/bob .* key changed: verify again/.test(ls.stdout), ls.stdout);
    assertEquals((await a.api.verifyContact("bob")).key_changed, false);
    // What alice sends to "bob" now reaches the new id.
    const reply = await a.api.send({ to: "bob", text: "hi new bob" });
    assertEquals((await a.api.message(reply.id)).peer, newId);
    await waitFor(() => delivered(a, reply.id), "alice's reply delivered");
    assertEquals((await history(b, "alice")).at(-1), "in hi new bob");
    // Alice confirms bob's new key again.
    assertEquals((await a.api.verifyContact("bob")).verified, true);

    // The offline path: bob goes away; alice queues for him (his current id); bob rotates with
    // no daemon running and starts again.
    assertEquals(await b.stop(), 0);
    const queued = await a.api.send({ to: "bob", text: "for bob while he is away" });
    assertEquals((await a.api.message(queued.id)).peer, newId);
    assertEquals(await a.stop(), 0);
    const offline = await cli(["id", "--rotate", "--state-dir", b.stateDir]);
    assertEquals(offline.code, 0, offline.stderr);
    const newest = offline.stdout.trim();
    assertOk(newest !== newId && newest !== oldId, "another new id");
    b = await startDaemonProcess({ relay: relay.address, stateDir: b.stateDir });
    assertEquals(b.id, newest);
    assertEquals((await b.api.contacts()).map((c) => c.name), ["alice"], "moved at start");
    await waitOnline(b);
    a = await startDaemonProcess({ relay: relay.address, stateDir: a.stateDir });
    const ev2 = collectEvents(a);
    stops.push(ev2.stop);
    const second = await waitFor(
      () =>
        ev2.events.find((e): e is Rotation => e.type === "rotation" && e.data.new_id === newest),
      "the second rotation shown",
      20_000,
    );
    assertEquals([second.data.old_id, second.data.was_verified], [newId, true]);
    // Held: bob's daemon talks to alice's (a message from his newest id arrives), but alice's
    // queued message waits for her to verify the new key.
    const ping = await b.api.send({ to: "alice", text: "bob's newest id" });
    await waitFor(
      () => delivered(b, ping.id),
      "bob's message from the newest id delivered",
      20_000,
    );
    assertEquals((await a.api.message(queued.id)).status, "queued", "held for alice");
    assertOk(!(await history(b, "alice")).includes("in for bob while he is away"), "not sent");
    assertEquals((await a.api.verifyContact("bob")).verified, true);
    await waitFor(() => delivered(a, queued.id), "alice's queued message follows bob", 20_000);
    assertEquals((await a.api.message(queued.id)).peer, newest);
    assertEquals((await history(b, "alice")).at(-1), "in for bob while he is away");
    assertEquals((await a.api.contacts()).map((c) => [c.id, c.name]), [[newest, "bob"]]);
  } finally {
    for (const s of stops) await s();
    const codes = await Promise.all([a.stop(), b.stop(), relay.stop()]);
    assertEquals(codes, [0, 0, 0]);
  }
});
