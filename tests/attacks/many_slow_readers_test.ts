/**
 * Attack: fill the relay's memory through many recipients that stop reading. Each session's
 * queue is capped (--max-queue-bytes), but before the relay-wide budget (relay/queue_budget.ts)
 * eight accomplices that never read could each make the relay hold a full queue: memory grew
 * with the number of sessions.
 *
 * What stops it: the bytes queued towards all sessions together are capped at
 * --max-total-queue-bytes; past it an envelope is refused with `recipient_busy` like one past its
 * session's own cap. The relay's `queued_bytes` gauge never passes the budget, and once the
 * readers read again, an honest envelope to an honest recipient gets through.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { connectClient, waitFor } from "../harness.ts";
import type { LinkClient } from "../../daemon/link_client.ts";
import { ATTACKER, startTestRelay } from "./_helpers.ts";

const KiB = 1024;
const PER_SESSION = 1024 * KiB;
const TOTAL = 2048 * KiB;
const READERS = 8;
const ENVELOPE = 64 * KiB - 64;
/**
 * Most envelopes pushed at each reader: the kernel's socket buffers on the way (several MiB per
 * connection on loopback) fill before the relay's queues do, so the attack pushes until it has
 * been refused a while, at most 32 MiB per reader.
 */
const PER_READER = Math.ceil((32 * PER_SESSION) / ENVELOPE);
const ENOUGH_REFUSALS = 4 * READERS;

Deno.test("eight recipients that stop reading cannot make the relay hold more than --max-total-queue-bytes", async () => {
  const r = await startTestRelay({
    limits: {
      maxQueueBytes: PER_SESSION,
      maxTotalQueueBytes: TOTAL,
      slowReaderTimeoutMs: 60_000,
      framesPerSecond: 1_000_000,
      frameBurst: 1_000_000,
      bytesPerSecond: 2 ** 40,
      maxSessionsPerIp: 1000,
    },
  });
  const links: LinkClient[] = [];
  try {
    const readers: LinkClient[] = [];
    for (let i = 0; i < READERS; i++) {
      const l = await connectClient(r.address, { onDeliver: () => {} });
      l.pauseReading();
      readers.push(l);
      links.push(l);
    }
    const attacker = await connectClient(r.address, { localAddress: ATTACKER });
    links.push(attacker);
    const envelope = new Uint8Array(ENVELOPE).fill(0xee);
    const counts = { delivered: 0, busy: 0, other: 0 };
    let peak = 0;
    let rounds = 0;
    for (; rounds < PER_READER && counts.busy < ENOUGH_REFUSALS; rounds++) {
      const answers = await Promise.all(readers.map((v) => attacker.send(v.id, envelope)));
      for (const a of answers) {
        if (a.status === "delivered") counts.delivered++;
        else if (a.status === "rejected" && a.code === "recipient_busy") counts.busy++;
        else counts.other++;
      }
      peak = Math.max(peak, await r.scrape("queued_bytes"));
    }
    console.log(
      `many slow readers: ${READERS * rounds} envelopes of ${ENVELOPE} B pushed: ` +
        `${counts.delivered} accepted, ${counts.busy} recipient_busy; queued_bytes peak ` +
        `${(peak / KiB).toFixed(0)} KiB of a ${TOTAL / KiB} KiB budget ` +
        `(${READERS} × ${PER_SESSION / KiB} KiB per-session caps)`,
    );
    assertEquals(counts.other, 0);
    assertOk(counts.busy > 0, "the excess was refused as recipient_busy");
    assertOk(peak <= TOTAL, `queued_bytes ${peak} stayed within the budget`);
    assertOk(readers.every((v) => !v.isClosed), "nobody was disconnected");

    // The readers read again: the budget comes back, and an honest envelope goes through.
    for (const v of readers) v.resumeReading();
    const honest = await connectClient(r.address, { onDeliver: () => {} });
    const sender = await connectClient(r.address);
    links.push(honest, sender);
    await waitFor(
      async () => (await sender.send(honest.id, new Uint8Array([1, 2, 3]))).status === "delivered",
      "an honest envelope to be accepted once the queues drain",
      10_000,
    );
    await waitFor(async () => (await r.scrape("queued_bytes")) < TOTAL / 2, "the budget back");
  } finally {
    await Promise.all(links.map((l) => l.terminate().catch(() => {})));
    await r.close();
  }
});
