/**
 * Attack: get an online victim disconnected by pushing 64 KiB envelopes at it faster than it
 * reads. The relay used to close a recipient whose queue passed --max-queue-bytes as
 * `slow_reader`, so any user could knock any other off the relay.
 *
 * What stops it now (relay/link.ts): an envelope for a recipient whose queue is full is refused
 * with RESULT `rejected`, code `recipient_busy` (20), which the sender's outbox retries later;
 * the recipient keeps its link, and is dropped only after taking no bytes at all for
 * --slow-reader-timeout-ms (tests/relay/slow_reader_test.ts covers that case).
 *
 * The victim here keeps reading, slowly: it stops its socket and starts it again in cycles
 * (the pauses are the victim's behaviour, not a wait of the test). The attacker connects from
 * 127.0.0.2, the victim and a legitimate sender from 127.0.0.1.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { connectClient, rssOf, startRelayProcess, waitFor } from "../harness.ts";
import { ERROR_CODES } from "../../protocol/errors.ts";
import type { LinkClient } from "../../daemon/link_client.ts";
import { aliveFlag, ATTACKER, scrapeProcess } from "./_helpers.ts";

const MiB = 1024 * 1024;
const READ_PAUSE_MS = 300;
const SLOW_READER_TIMEOUT_MS = 2000;
const ATTACK_MS = 3000;
/** The attack goes on past ATTACK_MS until the attacker is refused once, up to this long. */
const ATTACK_MAX_MS = 10_000;
const RATE = 500;

Deno.test("64 KiB envelopes pushed at a slowly reading victim: the attacker gets recipient_busy, the victim keeps its link, a legitimate envelope gets through", async () => {
  assertEquals(ERROR_CODES.recipient_busy, 20);
  const relay = await startRelayProcess({
    args: [
      "--max-queue-bytes",
      String(MiB),
      "--slow-reader-timeout-ms",
      String(SLOW_READER_TIMEOUT_MS),
    ],
  });
  const alive = aliveFlag(relay.exited);
  // The legitimate envelope is as big as the attacker's: it meets the same full queue.
  const marker = new Uint8Array(65536).fill(0x11);
  let received = 0, budget = Infinity, markerSeen = false, cycles = 0;
  let victim: LinkClient | undefined, attacker: LinkClient | undefined;
  let sender: LinkClient | undefined;
  let reading = true;
  try {
    victim = await connectClient(relay.address, {
      onDeliver: (_from, env) => {
        received++;
        budget -= env.length;
        if (env[0] === 0x11 && env.length === marker.length) markerSeen = true;
        if (budget <= 0 && reading) victim?.pauseReading();
      },
    });
    attacker = await connectClient(relay.address, { localAddress: ATTACKER });
    sender = await connectClient(relay.address);
    const v = victim;
    const rss0 = await rssOf(relay.child.pid);

    // The victim reads slowly: it stops its socket for READ_PAUSE_MS, starts it again until it
    // has taken 256 KiB (plus what node had read already: it measures a few MiB/s), and so on.
    // It never stops for as long as the slow-reader timeout.
    const slowReader = (async () => {
      while (reading) {
        v.pauseReading();
        await new Promise((r) => setTimeout(r, READ_PAUSE_MS));
        budget = 256 * 1024;
        v.resumeReading();
        cycles++;
        await waitFor(() => !reading || budget <= 0, "the victim to read", READ_PAUSE_MS)
          .catch(() => {});
      }
      budget = Infinity;
      v.resumeReading();
    })();

    // The attacker pushes 64 KiB envelopes at 500 a second (32 MiB/s, under its byte rate) for
    // ATTACK_MS, 16 in flight: several times what the victim reads. On a loaded machine the
    // attacker's own sealing can fall behind the victim's reading for a while: it goes on until
    // it has been refused once (ATTACK_MAX_MS at most), so the test times the relay, not the box.
    const envelope = new Uint8Array(65536).fill(0xee);
    const counts = { delivered: 0, busy: 0, offline: 0, other: 0 };
    let pushed = 0, readDuringAttack = 0;
    const t0 = Date.now();
    const pusher = async () => {
      const going = () => {
        const t = Date.now() - t0;
        return t < ATTACK_MS || (counts.busy === 0 && t < ATTACK_MAX_MS);
      };
      while (going()) {
        // Pacing is the attacker's behaviour: no faster than RATE per second.
        const due = t0 + (pushed * 1000) / RATE - Date.now();
        if (due > 0) await new Promise((r) => setTimeout(r, due));
        pushed++;
        const r = await attacker!.send(v.id, envelope);
        if (r.status === "delivered") counts.delivered++;
        else if (r.status === "rejected" && r.code === "recipient_busy") counts.busy++;
        else if (r.status === "offline") counts.offline++;
        else counts.other++;
      }
    };
    const attack = Promise.all(Array.from({ length: 16 }, pusher));

    // During the attack the legitimate sender's envelope is refused while the queue is full,
    // and retried (as the outbox does) until the relay takes it.
    await waitFor(() => counts.busy > 0, "the attacker to be refused", ATTACK_MAX_MS + 2000);
    let tries = 0, legitBusy = 0;
    await waitFor(
      async () => {
        tries++;
        const r = await sender!.send(v.id, marker);
        if (r.status === "rejected" && r.code === "recipient_busy") legitBusy++;
        else assertEquals(r.status, "delivered", `legitimate send: ${r.status} ${r.code}`);
        return r.status === "delivered";
      },
      "the legitimate envelope to be accepted",
      10_000,
    );
    await attack;
    const attackMs = Date.now() - t0;
    readDuringAttack = received;
    const rss1 = await rssOf(relay.child.pid);
    assertOk(!v.isClosed && !attacker.isClosed, "nobody was disconnected");

    // The victim catches up: everything the relay accepted for it arrives, the marker too.
    reading = false;
    await slowReader;
    await waitFor(
      () => received === counts.delivered + 1 && markerSeen,
      "every accepted envelope to reach the victim",
      10_000,
    );
    console.log(
      `slow reader DoS: ${pushed} envelopes pushed in ${Date.now() - t0} ms: ` +
        `${counts.delivered} delivered, ${counts.busy} recipient_busy, ${counts.offline} offline; ` +
        `the victim read ${readDuringAttack} (` +
        `${(readDuringAttack * 65536 / MiB / (attackMs / 1000)).toFixed(1)} MiB/s) in ` +
        `${cycles} cycles meanwhile; ` +
        `the legitimate envelope got in after ${tries} tries (${legitBusy} busy); ` +
        `${counts.delivered + 1 - readDuringAttack} queued at the end; ` +
        `RSS ${(rss0 / MiB).toFixed(1)} → ${(rss1 / MiB).toFixed(1)} MiB`,
    );
    assertOk(counts.busy > 0, "the attacker was refused with recipient_busy");
    assertOk(readDuringAttack > 0 && cycles >= 3, "the victim went on reading during the attack");
    assertEquals(counts.offline, 0, "the victim was never taken offline");
    assertEquals(counts.other, 0);
    // What the relay accepted for the victim and the victim had not read yet when the attack
    // ended was queued: in the relay (at most --max-queue-bytes) or in the kernel's socket
    // buffers on the way. Bounded, however much the attacker pushes.
    const backlog = (counts.delivered + 1 - readDuringAttack) * 65536;
    assertOk(backlog <= 16 * MiB, `${(backlog / MiB).toFixed(1)} MiB were queued for the victim`);
    // The RSS also holds the garbage of the decrypted, refused envelopes (~90 MiB went through),
    // which V8 collects lazily.
    assertOk(rss1 - rss0 < 128 * MiB, `RSS grew by ${((rss1 - rss0) / MiB).toFixed(1)} MiB`);
    assertEquals(await scrapeProcess(relay.metrics, "slow_readers_total"), 0);
    assertOk((await scrapeProcess(relay.metrics, "envelopes_busy_total")) >= counts.busy);
    assertEquals(await scrapeProcess(relay.metrics, "sessions_online"), 3);
    assertOk(!v.isClosed, "the victim still has its link");
    assertOk(alive(), "the relay is alive");
  } finally {
    reading = false;
    for (const c of [victim, attacker, sender]) if (c && !c.isClosed) await c.close();
    assertEquals(await relay.stop(), 0);
  }
});
