/**
 * Attack (issue 7, item 7): any relay user who knows a daemon's id opens an honest end-to-end
 * session with it, then floods it with MSG envelopes that make it work before they fail. Before
 * (schied/1), a MSG whose clear counter was far ahead cost the victim 1.4–2.8 s of blocking CPU
 * (one HMAC chain step per skipped key, 100,000 of them) before the AEAD check failed, and left
 * the state unchanged, so the same 30 bytes could be sent again and again: 100 of them froze the
 * local API and delayed a contact's message by minutes. An HS1 flood cost a key generation and
 * DHs each.
 *
 * End-to-end version 2 (protocol/README.md, section 13): a MSG is a ratchet message whose header
 * (ratchet key, counters) is encrypted. Whoever lacks the session's header keys — the relay, any
 * stranger — can only send bytes that fail at the header: a handful of header trials (current
 * chain, next chain, at most RATCHET_MAX_SKIPPED_CHAINS old ones) per session, and not one key
 * derived. Only the session's holder can make a header that authenticates and names a message
 * ahead; then a gap over RATCHET_MAX_SKIP (1,000) is refused before any key is derived (and
 * answered with a budgeted re-handshake), and skipped keys within it are asked of the per-peer
 * and strangers' budgets (daemon/budget.ts) before they are derived. HS1s are answered within a
 * per-peer budget (and a strangers' one).
 *
 * Here a real `schied daemon` victim on a real relay is flooded by an attacker built from
 * protocol primitives (tests/attacks/_e2e_peer.ts), while the test measures the victim's
 * `GET /health` latency in a loop and a contact (a second real daemon) sends it a message. On
 * release 44d41ba the schied/1 flood gave: 6 /health answers in 33 s (p99 11.5 s), the contact's
 * message not there after 30 s, 45 s of victim CPU.
 */
import { e2eParty } from "../_e2e_party.ts";
import { assertEquals, assertOk, assertRejects } from "../_assert.ts";
import { RATCHET_MAX_SKIP } from "../../protocol/constants.ts";
import { E2EInitiator, E2EResponder } from "../../protocol/e2e_handshake.ts";
import { pad, parseEnvelope } from "../../protocol/envelope.ts";
import { encodePayload } from "../../protocol/payload.ts";
import type { RatchetDeps } from "../../protocol/ratchet.ts";
import type { E2ESession } from "../../protocol/session.ts";
import { BUDGETS } from "../../daemon/budget.ts";
import { startRelayProcess, waitFor } from "../harness.ts";
import { startDaemonProcess, waitOnline } from "../daemon_harness.ts";
import { ATTACKER, within } from "./_helpers.ts";
import { cpuSecondsOf, E2EPeer, forgeAhead, percentile, watchEvents } from "./_e2e_peer.ts";

/** Encrypted header lengths: siv (12) ‖ header (40, + 1184 ML-KEM key, + 1088 ciphertext) ‖ tag. */
const ENC_HEADER = { 0: 12 + 40 + 16, 3: 12 + 40 + 1184 + 1088 + 16 } as const;

/**
 * A version-2 MSG made of random bytes (`2 ‖ shape ‖ enc_header ‖ body` of the right lengths for
 * `shape` and the 256-byte class): all anyone without the session's keys can send.
 */
function garbageMsg(shape: 0 | 3): Uint8Array {
  const env = crypto.getRandomValues(new Uint8Array(2 + ENC_HEADER[shape] + 256 + 16));
  env[0] = 2;
  env[1] = shape;
  return env;
}

/** A finished handshake between two fresh identities: the initiator's and responder's sessions. */
async function sessionPair(): Promise<[E2ESession, E2ESession]> {
  const [a, b] = [await e2eParty(), await e2eParty()];
  const i = new E2EInitiator(a, b.id, crypto.getRandomValues(new Uint8Array(8)));
  const hs1 = parseEnvelope(await i.start());
  const r = new E2EResponder(b, a.id, hs1.id);
  const hs2 = parseEnvelope(await r.accept(hs1.body));
  const { envelope, result } = await i.finish(hs2.body);
  return [result.session, (await r.finish(parseEnvelope(envelope).body)).session];
}

const code = (c: string) => (e: Error) => (e as { code?: string }).code === c;

Deno.test("what each forged MSG costs its receiver: garbage only header trials, a session holder's gap only what allowSkip grants", async () => {
  const [att, vic] = await sessionPair();
  const padded = pad(encodePayload({ t: "a", upto: 0 }));
  const now = Date.now();
  // One genuine message each way, so that the receiver has a current and a next chain.
  await vic.open(await att.seal(padded, { now }), { now });
  await att.open(await vic.seal(padded, { now }), { now });
  const metered = () => {
    const asked: number[] = [];
    const meter = { rk: 0, ck: 0 };
    const deps: RatchetDeps = { now, meter, allowSkip: (n) => (asked.push(n), true) };
    return { asked, meter, deps };
  };
  const before = vic.digest();
  for (const g of [garbageMsg(0), garbageMsg(3)]) {
    const m = metered();
    await assertRejects(() => vic.open(g, m.deps), code("auth_failed"));
    assertEquals([m.meter, m.asked], [{ rk: 0, ck: 0 }, []], "garbage derived nothing");
  }
  // A holder of the sending keys: an authentic header RATCHET_MAX_SKIP − 1 ahead, body flipped.
  const near = await forgeAhead(att, RATCHET_MAX_SKIP - 1);
  const refused = metered();
  refused.deps.allowSkip = (n) => (refused.asked.push(n), false);
  await assertRejects(() => vic.open(near, refused.deps), code("rate_limited"));
  assertEquals([refused.meter.ck, refused.asked], [0, [RATCHET_MAX_SKIP - 1]], "asked, refused");
  const granted = metered();
  await assertRejects(() => vic.open(near, granted.deps), code("auth_failed"));
  assertOk(granted.meter.ck >= RATCHET_MAX_SKIP - 1, "granted: the gap was derived, then failed");
  // One over the limit: refused before anything is derived or asked.
  const far = metered();
  await assertRejects(
    async () => await vic.open(await forgeAhead(att, RATCHET_MAX_SKIP + 1), far.deps),
    code("session_unknown"),
  );
  assertEquals([far.meter.ck, far.asked], [0, []], "too far: nothing derived");
  assertEquals(vic.digest(), before, "every refusal left the state as it was");
  // Positive control: the attacker's next genuine message still opens.
  assertEquals(await vic.open(await att.seal(padded, { now }), { now }), padded);
});

Deno.test("forged MSGs (garbage, and a session holder's far ahead) and an HS1 flood: /health p99 < 50 ms, a contact's message arrives within 2 s, the session is intact", async () => {
  const relay = await startRelayProcess();
  const victim = await startDaemonProcess({ relay: relay.address });
  const friend = await startDaemonProcess({ relay: relay.address });
  let attacker: E2EPeer | undefined;
  const vEvents = watchEvents(victim.api);
  const fEvents = watchEvents(friend.api);
  try {
    await Promise.all([waitOnline(victim), waitOnline(friend)]);
    await victim.api.addContact({ id: friend.id, name: "friend" });
    await friend.api.addContact({ id: victim.id, name: "victim" });
    // A warm-up message: the friend and the victim have a session before the attack.
    const warm = await friend.api.send({ to: victim.id, text: "warm-up" });
    await waitFor(
      async () => (await friend.api.message(warm.id)).status === "delivered",
      "the warm-up message to be delivered",
    );

    // The attacker: a stranger with an honest session (HS1, the victim's HS2, HS3).
    attacker = await E2EPeer.connect(relay.address, { localAddress: ATTACKER });
    const a = attacker;
    await a.handshake(victim.id);
    await a.send(victim.id, await a.sealText(victim.id, "genuine 1"));
    await waitFor(() => a.acks.get(victim.id) === 1, "the victim to acknowledge message 1");
    const before = (await victim.api.requests()).find((r) => r.id === a.id);
    assertEquals(before?.messages, 1, "the attacker is a message request with one message");

    // The flood, built beforehand so that the test process stays idle while measuring: six
    // distinct forged MSGs, each sent 50 times — two of random bytes (the smallest and the
    // largest header shape: header trials only), two whose authentic headers name a message
    // RATCHET_MAX_SKIP − 1 ahead (999 skipped keys asked of the budget each time, then the body
    // fails), two RATCHET_MAX_SKIP + 1 ahead (refused before any key, a budgeted re-handshake)
    // — and 200 HS1s with fresh ephemerals.
    const forged = [
      garbageMsg(0),
      garbageMsg(3),
      await a.forgeAhead(victim.id, RATCHET_MAX_SKIP - 1),
      await a.forgeAhead(victim.id, RATCHET_MAX_SKIP - 1),
      await a.forgeAhead(victim.id, RATCHET_MAX_SKIP + 1),
      await a.forgeAhead(victim.id, RATCHET_MAX_SKIP + 1),
    ];
    const hs1s = await Promise.all(Array.from({ length: 200 }, () => a.hs1(victim.id)));
    const hs1Ids = new Set(hs1s.map((h) => h.hid));
    const inboxAtFlood = a.inbox.length;

    // GET /health in a loop, one request at a time (PROBE_GAP_MS apart, so that serving them is
    // not most of the victim's CPU), until told to stop (bounded by MAX_PROBES).
    const latencies: number[] = [];
    let probing = true;
    const MAX_PROBES = 20_000, PROBE_GAP_MS = 2;
    const probe = (async () => {
      while (probing && latencies.length < MAX_PROBES) {
        const t = performance.now();
        const res = await fetch(`${victim.apiUrl}/health`);
        await res.body?.cancel();
        assertEquals(res.status, 200);
        latencies.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, PROBE_GAP_MS));
      }
    })();

    const cpu0 = await cpuSecondsOf(victim.child.pid);
    const floodStart = Date.now();
    const BATCHES = 30, PER_BATCH = 10; // 300 forged MSGs over ~3 s
    let legitSentAt = 0, legitId = "";
    for (let b = 0; b < BATCHES; b++) {
      for (let i = 0; i < PER_BATCH; i++) {
        void a.send(victim.id, forged[(b * PER_BATCH + i) % forged.length]!);
      }
      if (b === 5) { for (const h of hs1s) void a.send(victim.id, h.envelope); // the HS1 burst
       }
      if (b === 10) {
        // The contact writes in the middle of the flood.
        legitSentAt = Date.now();
        legitId = (await friend.api.send({ to: victim.id, text: "during the flood" })).id;
      }
      await new Promise((r) => setTimeout(r, 100)); // the flood's pace: a batch per 100 ms
    }
    const floodMs = Date.now() - floodStart;
    // Everything the attacker sent has been answered by the relay (delivered to the victim).
    await waitFor(() => a.link.inFlight === 0, "the relay to have taken the flood", 10_000);

    const seen = await waitFor(
      () =>
        vEvents.events.find((e) =>
          e.type === "message" && e.data.from === friend.id && e.data.text === "during the flood"
        ),
      "the contact's message on the victim's /events",
      5000,
    );
    const deliveryMs = seen.at - legitSentAt;
    // Delivered: the victim acknowledged it end to end (a `status` event at the friend).
    const acked = await waitFor(
      () =>
        fEvents.events.find((e) =>
          e.type === "status" && e.data.id === legitId && e.data.status === "delivered"
        ),
      "the contact's message to be delivered",
      5000,
    );
    const ackedMs = acked.at - legitSentAt;

    // The victim has worked through the whole flood: a genuine MSG after it opens (so the
    // session survived unchanged) and is acknowledged.
    await a.send(victim.id, await a.sealText(victim.id, "genuine 2"));
    await waitFor(() => a.acks.get(victim.id) === 2, "the victim to acknowledge message 2", 5000);
    const drainedMs = Date.now() - floodStart;
    probing = false;
    await within(probe, "the /health loop to stop");
    const cpu = (await cpuSecondsOf(victim.child.pid)) - cpu0;

    const p50 = percentile(latencies, 50), p99 = percentile(latencies, 99);
    const max = Math.max(...latencies);
    await a.idle();
    const hs2 = a.received(victim.id, "hs2", inboxAtFlood).filter((r) => hs1Ids.has(r.eid));
    const victimHs1 = a.received(victim.id, "hs1", inboxAtFlood);
    console.log(
      `daemon freeze: 300 forged MSGs (garbage, ${RATCHET_MAX_SKIP - 1} and ` +
        `${RATCHET_MAX_SKIP + 1} ahead) + 200 HS1s in ` +
        `${floodMs} ms; /health ${latencies.length} probes p50 ${p50.toFixed(1)} ms, p99 ` +
        `${p99.toFixed(1)} ms, max ${max.toFixed(1)} ms; contact's message on /events after ` +
        `${deliveryMs} ms, delivered (acked) after ${ackedMs} ms; flood drained (genuine MSG ` +
        `acked) ${drainedMs} ms after it began; victim CPU ${cpu.toFixed(2)} s; HS2 answers ` +
        `${hs2.length}/200, re-handshakes started by the victim ${victimHs1.length}`,
    );
    assertOk(latencies.length >= 50, `enough /health samples (${latencies.length})`);
    assertOk(p99 < 50, `/health p99 ${p99.toFixed(1)} ms < 50 ms`);
    assertOk(deliveryMs < 2000, `the contact's message arrived after ${deliveryMs} ms (< 2 s)`);
    assertOk(ackedMs < 2000, `the contact's message was delivered after ${ackedMs} ms (< 2 s)`);
    // Handshake work for one peer is bounded by its budget (the genuine handshake took one).
    const hsBound = BUDGETS.handshakesPerPeer.burst +
      Math.ceil((drainedMs / 60_000) * BUDGETS.handshakesPerPeer.perMinute);
    assertOk(
      hs2.length + victimHs1.length <= hsBound,
      `handshakes for the attacker: ${hs2.length} answered + ${victimHs1.length} started ≤ ${hsBound}`,
    );
    // Skipped keys: at most the per-peer budget's worth (garbage and gaps over the limit cost
    // none); at ≤ 28 µs a step that is well under a second of CPU (before: minutes).
    assertOk(cpu < 5, `victim CPU during the flood ${cpu.toFixed(2)} s`);
    // The state is unchanged: the attacker is still one request, with its two genuine messages,
    // and no `message` event came from it.
    const after = (await victim.api.requests()).find((r) => r.id === a.id);
    assertEquals(after?.messages, 2);
    assertEquals(after?.last_text, "genuine 2");
    assertOk(!vEvents.events.some((e) => e.type === "message" && e.data.from === a.id));
    assertOk(!(await victim.api.contacts()).some((c) => c.id === a.id), "not a contact");
    assertEquals(a.errors, [], "every answer of the victim opened");
    assertEquals((await victim.api.status()).relay.state, "online");
  } finally {
    vEvents.stop();
    fEvents.stop();
    await attacker?.close();
    const codes = [await victim.stop(), await friend.stop(), await relay.stop()];
    assertEquals(codes, [0, 0, 0], "every process exits cleanly");
  }
});

Deno.test("ten strangers with sessions keep the skipped-key budget drained: a contact's message after a lost window still opens at once", async () => {
  // Before, one skipped-key budget was shared by every peer: strangers could keep it empty
  // (each within its own per-peer budget) and a contact's MSG that came after lost envelopes —
  // a window of WINDOW (256) that the relay could not deliver, say — was dropped unread, and
  // again at every retry, each one further ahead, for as long as they went on.
  const relay = await startRelayProcess();
  const victim = await startDaemonProcess({ relay: relay.address });
  const peers: E2EPeer[] = [];
  let flooding = true;
  let flood: Promise<void> | undefined;
  try {
    await waitOnline(victim);
    const pal = await E2EPeer.connect(relay.address);
    peers.push(pal);
    await victim.api.addContact({ id: pal.id, name: "pal" });
    await pal.handshake(victim.id);
    await pal.send(victim.id, await pal.sealText(victim.id, "one"));
    await waitFor(() => pal.acks.get(victim.id) === 1, "message 1 to be acknowledged");

    const K = 10;
    const strangers = await Promise.all(
      Array.from({ length: K }, () => E2EPeer.connect(relay.address, { localAddress: ATTACKER })),
    );
    peers.push(...strangers);
    for (const s of strangers) await s.handshake(victim.id);
    // Each stranger holds its session's keys, so its forgeries' headers authenticate: two
    // RATCHET_MAX_SKIP − 1 ahead each spend the strangers' 20,000 at once; then forgeries one
    // ahead, 2,000 a second, take each token as it comes back. (Every body fails: the state
    // never moves, so the same forgery costs the same again.)
    for (const s of strangers) {
      for (let j = 0; j < 2; j++) {
        void s.send(victim.id, await s.forgeAhead(victim.id, RATCHET_MAX_SKIP - 1));
      }
    }
    const oneAhead = await Promise.all(strangers.map((s) => s.forgeAhead(victim.id, 1)));
    let rounds = 0;
    flood = (async () => {
      for (let k = 0; flooding && k < 1000; k++, rounds++) {
        strangers.forEach((s, i) => void s.send(victim.id, oneAhead[i]!));
        await new Promise((r) => setTimeout(r, 5)); // the flood's pace: one round per 5 ms
      }
    })();
    await waitFor(() => rounds >= 100, "the flood to be under way (100 rounds)");

    // A window of 256 messages sealed and lost on the way; the next one is 256 ahead in its
    // chain (and says that the lost ones are given up, so it is stored).
    const LOST = 256;
    for (let i = 0; i < LOST; i++) await pal.sealText(victim.id, "lost on the way");
    const t = Date.now();
    await pal.send(victim.id, await pal.sealText(victim.id, "after a lost window", true));
    await waitFor(
      () => pal.acks.get(victim.id) === LOST + 2,
      "the message after the lost window to open",
      2000,
    );
    const ms = Date.now() - t;
    console.log(
      `skipped-key budget: ${K} strangers flooding forgeries; the contact's message ${LOST} ` +
        `messages ahead was acknowledged after ${ms} ms`,
    );
    assertEquals((await victim.api.requests()).length, K, "the strangers are requests only");
    assertEquals(pal.errors, []);
  } finally {
    flooding = false;
    await flood;
    for (const p of peers) await p.close();
    assertEquals([await victim.stop(), await relay.stop()], [0, 0]);
  }
});
