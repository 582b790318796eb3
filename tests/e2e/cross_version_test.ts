/**
 * Issue 10, item 4: daemons of this release against daemons of the previous one (commit 44d41ba,
 * end-to-end `schied/1`, started from its own tree by _old_release.ts), all through a relay of this
 * release (which serves link version 1 to the old ones). Never a silent loss on the side that can
 * tell:
 *
 * - new A → old B: A's message fails with `peer_version`, and A's journal has an `error` event
 *   `peer_version` naming B ("bob runs an older schied"; the id when B has no name);
 * - old B → new A: A's journal has an `error` event `peer_version` naming B ("bob tried to reach
 *   you with an older schied"); the message is not in A's history and A makes no session with B;
 * - controls: old ↔ old still works through this relay, and new ↔ new delivers both ways.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import type { JournalEvent } from "../../daemon/service.ts";
import { type RelayProcess, startRelayProcess, waitFor } from "../harness.ts";
import {
  cli,
  collectEvents,
  type DaemonProcess,
  spawnCli,
  startDaemonProcess,
  waitOnline,
} from "../daemon_harness.ts";
import { startOldDaemon } from "./_old_release.ts";

type ErrorEvent = Extract<JournalEvent, { type: "error" }>;

/** How long the side that can tell may take to tell (a handshake or two through the relay). */
const TELL_MS = 30_000;

/** The relay's count of envelopes handed to a recipient's link. */
async function handedOver(relay: RelayProcess): Promise<number> {
  const m = await (await fetch(`${relay.metrics}/metrics`)).text();
  return Number(/^schied_envelopes_delivered_total (\d+)$/m.exec(m)?.[1] ?? NaN);
}

/** Waits for the `peer_version` error event about `peer` whose message includes `says`. */
function peerVersionError(
  ev: { events: JournalEvent[] },
  peer: string,
  says: string,
): Promise<ErrorEvent> {
  return waitFor(
    () =>
      ev.events.find((e): e is ErrorEvent =>
        e.type === "error" && e.data.code === "peer_version" && e.data.peer === peer &&
        e.data.message.includes(says)
      ),
    `a peer_version error about ${peer} saying "${says}" (errors so far: ${
      JSON.stringify(ev.events.filter((e) => e.type === "error").map((e) => e.data))
    })`,
    TELL_MS,
  );
}

/** Stops every process (SIGTERM) and checks that each exited with 0. */
async function stopAll(ps: (DaemonProcess | RelayProcess | undefined)[]): Promise<void> {
  const codes = [];
  for (const p of ps.toReversed()) if (p) codes.push(await p.stop());
  assertEquals(codes, codes.map(() => 0), "every process exits with 0");
}

Deno.test("cross-version: two daemons of the previous release still talk through this relay", async () => {
  const relay = await startRelayProcess();
  let a: DaemonProcess | undefined, b: DaemonProcess | undefined;
  try {
    a = await startOldDaemon({ relay: relay.address });
    b = await startOldDaemon({ relay: relay.address });
    await Promise.all([waitOnline(a), waitOnline(b)]);
    await a.api.addContact({ id: b.id, name: "bob" });
    await b.api.addContact({ id: a.id, name: "alice" });
    const x = await a.api.send({ to: "bob", text: "old to old" });
    const y = await b.api.send({ to: "alice", text: "old back" });
    const [oa, ob] = [a, b];
    await waitFor(
      async () => {
        const [mx, my] = [await oa.api.message(x.id), await ob.api.message(y.id)];
        return mx.status === "delivered" && my.status === "delivered";
      },
      "both delivered",
      20_000,
    );
    assertEquals(
      (await b.api.messages({ with: a.id })).map((m) => [m.direction, m.text]).sort(),
      [["in", "old to old"], ["out", "old back"]],
    );
  } finally {
    await stopAll([relay, a, b]);
  }
});

Deno.test("cross-version: new → old: the message fails with peer_version, journaled naming the peer", async () => {
  const relay = await startRelayProcess();
  let a: DaemonProcess | undefined, b: DaemonProcess | undefined, c: DaemonProcess | undefined;
  let ev: ReturnType<typeof collectEvents> | undefined;
  try {
    a = await startDaemonProcess({ relay: relay.address });
    b = await startOldDaemon({ relay: relay.address });
    c = await startOldDaemon({ relay: relay.address });
    await Promise.all([waitOnline(a), waitOnline(b), waitOnline(c)]);
    ev = collectEvents(a, 0);
    // B is "bob" to A; C is a contact without a name.
    await a.api.addContact({ id: b.id, name: "bob" });
    await a.api.addContact({ id: c.id });
    await b.api.addContact({ id: a.id, name: "alice" });
    await c.api.addContact({ id: a.id });
    const toB = await a.api.send({ to: "bob", text: "hello old bob" });
    const toC = await a.api.send({ to: c.id, text: "hello old c" });

    const eb = await peerVersionError(ev, b.id, "runs an older schied");
    assertOk(eb.data.message.includes("bob"), `names bob: ${eb.data.message}`);
    const ec = await peerVersionError(ev, c.id, "runs an older schied");
    assertOk(ec.data.message.includes(c.id), `names C by its id: ${ec.data.message}`);

    // Not silently lost: the messages fail, with the reason, and leave the outbox.
    const aa = a;
    for (const [sent, who] of [[toB, "bob"], [toC, c.id]] as const) {
      const m = await waitFor(
        async () => {
          const m = await aa.api.message(sent.id);
          return m.status === "failed" ? m : undefined;
        },
        `the message to ${who} failed`,
        TELL_MS,
      );
      assertOk(m.reason?.includes("peer_version"), `why: ${m.reason}`);
      await waitFor(
        () =>
          ev!.events.some((e) =>
            e.type === "status" && e.data.id === sent.id && e.data.status === "failed" &&
            e.data.reason?.includes("peer_version")
          ),
        "the failed status event",
      );
    }
    // A message sent once A knows: it fails as well, rather than waiting in the outbox.
    const again = await a.api.send({ to: "bob", text: "still there?" });
    const m2 = await waitFor(
      async () => {
        const m = await aa.api.message(again.id);
        return m.status === "failed" ? m : undefined;
      },
      "the later message to bob failed",
      TELL_MS,
    );
    assertOk(m2.reason?.includes("peer_version"), `why: ${m2.reason}`);
    // The CLI says why, and what to do.
    const w = await cli(["send", "bob", "once more", "--wait", "--state-dir", a.stateDir]);
    assertEquals(w.code, 1, w.stderr);
    assertOk(/^schied: error: message .* failed: peer_version$/m.test(w.stderr), w.stderr);
    assertOk(
      /^schied: hint: the recipient runs an older schied .*upgrade$/m.test(w.stderr),
      w.stderr,
    );
    // (The outbox lets go of a failed message just after its status changed.)
    await waitFor(async () => (await aa.api.status()).outbox.size === 0, "an empty outbox", 5_000);
    assertEquals((await a.api.status()).sessions, 0, "no session with an old daemon");
    // The old daemons got nothing either.
    assertEquals(await b.api.messages({ with: a.id }), []);
    assertEquals(await c.api.messages({ with: a.id }), []);
  } finally {
    ev?.stop();
    await stopAll([relay, a, b, c]);
  }
});

Deno.test("cross-version: old → new: A journals peer_version naming the peer, stores nothing, makes no session", async () => {
  const relay = await startRelayProcess();
  let a: DaemonProcess | undefined, b: DaemonProcess | undefined;
  let ev: ReturnType<typeof collectEvents> | undefined;
  try {
    a = await startDaemonProcess({ relay: relay.address });
    b = await startOldDaemon({ relay: relay.address });
    await Promise.all([waitOnline(a), waitOnline(b)]);
    ev = collectEvents(a, 0);
    await a.api.addContact({ id: b.id, name: "bob" });
    await b.api.addContact({ id: a.id, name: "alice" });
    const sent = await b.api.send({ to: "alice", text: "hi from the old release" });

    const e = await peerVersionError(ev, b.id, "tried to reach you with an older schied");
    assertOk(e.data.message.includes("bob"), `names bob: ${e.data.message}`);
    // `schied listen` shows it where a person looks (stderr; stdout carries only messages).
    const listen = spawnCli(["listen", "--since", "0", "--state-dir", a.stateDir], {
      stdin: "null",
    });
    try {
      await waitFor(
        () => listen.err.find((l) => l === `schied: ${e.data.message}`),
        "listen's notice of the older peer",
      );
      assertEquals(listen.out, [], "nothing of it on stdout");
    } finally {
      await listen.stop();
    }
    const check = async (when: string) => {
      assertEquals(await a!.api.messages({ with: b!.id }), [], `nothing in A's history ${when}`);
      assertEquals((await a!.api.status()).sessions, 0, `no session at A ${when}`);
      assertEquals((await a!.api.requests()).length, 0, `no message request ${when}`);
      assertOk(
        !ev!.events.some((x) => x.type === "message" || x.type === "request"),
        `no message event ${when}`,
      );
      assertOk((await b!.api.message(sent.id)).status !== "delivered", `not delivered ${when}`);
    };
    await check("at the error");
    // B keeps trying (its retries go through the relay); A still takes nothing from it.
    const base = await handedOver(relay);
    await waitFor(async () => await handedOver(relay) >= base + 2, "B's retries", 20_000);
    await check("after B's retries");
  } finally {
    ev?.stop();
    await stopAll([relay, a, b]);
  }
});

Deno.test("cross-version control: two daemons of this release deliver both ways", async () => {
  const relay = await startRelayProcess();
  let a: DaemonProcess | undefined, b: DaemonProcess | undefined;
  let ev: ReturnType<typeof collectEvents> | undefined;
  try {
    a = await startDaemonProcess({ relay: relay.address });
    b = await startDaemonProcess({ relay: relay.address });
    await Promise.all([waitOnline(a), waitOnline(b)]);
    ev = collectEvents(a, 0);
    await a.api.addContact({ id: b.id, name: "bob" });
    await b.api.addContact({ id: a.id, name: "alice" });
    const x = await a.api.send({ to: "bob", text: "new to new" });
    const y = await b.api.send({ to: "alice", text: "new back" });
    const [na, nb] = [a, b];
    await waitFor(
      async () => {
        const [mx, my] = [await na.api.message(x.id), await nb.api.message(y.id)];
        return mx.status === "delivered" && my.status === "delivered";
      },
      "both delivered",
      20_000,
    );
    assertEquals(
      (await a.api.messages({ with: "bob" })).map((m) => [m.direction, m.text]).sort(),
      [["in", "new back"], ["out", "new to new"]],
    );
    assertEquals(
      (await b.api.messages({ with: "alice" })).map((m) => [m.direction, m.text]).sort(),
      [["in", "new to new"], ["out", "new back"]],
    );
    assertOk(
      !ev.events.some((e) => e.type === "error" && e.data.code === "peer_version"),
      "no peer_version error between two daemons of this release",
    );
    assertOk((await a.api.status()).sessions >= 1, "A has a session with B");
  } finally {
    ev?.stop();
    await stopAll([relay, a, b]);
  }
});
