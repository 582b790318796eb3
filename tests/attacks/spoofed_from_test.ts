/**
 * Attack: a daemon tries to make its envelope look as if another id sent it. A SEND frame has no
 * `from` field (the relay fills it in from the authenticated session), and a daemon that sends a
 * relay-only frame such as DELIVER (0x82), with a `from` of its choosing, has its link closed.
 */
import { assertEquals } from "../_assert.ts";
import { encodeFrame } from "../../protocol/frames.ts";
import { clientIdFromPublicKey } from "../../protocol/identity.ts";
import { connectClient, newKeys, waitFor } from "../harness.ts";
import { linkEnd, settled, startTestRelay } from "./_helpers.ts";

type Got = { from: Uint8Array; envelope: Uint8Array };

Deno.test("a DELIVER frame from a daemon closes its link with bad_frame; nothing is delivered", async () => {
  const r = await startTestRelay();
  const got: Got[] = [];
  const victim = await connectClient(r.address);
  const bob = await connectClient(r.address, {
    onDeliver: (from, envelope) => got.push({ from, envelope }),
  });
  const mallory = await connectClient(r.address);
  try {
    // Mallory sends Bob a DELIVER claiming to be the victim, in a record together with an
    // honest SEND (both pushed before the record is sealed, so they share one record).
    mallory.pushRawFrame(
      encodeFrame({ type: "send", seq: 1, to: bob.id, envelope: Uint8Array.of(1) }),
    );
    mallory.pushRawFrame(
      encodeFrame({ type: "deliver", from: victim.id, envelope: Uint8Array.of(2) }),
    );
    const closed = await linkEnd(mallory);
    assertEquals(closed.code, "bad_frame");
    assertEquals(r.counter("envelopes_delivered_total"), 0, "the whole record was refused");

    // Bob's link still works; the only envelope he gets is one the victim really sent.
    assertEquals((await victim.send(bob.id, Uint8Array.of(3))).status, "delivered");
    await waitFor(() => got.length === 1, "the victim's envelope");
    assertEquals(got[0]!.from, victim.id);
    assertEquals(got[0]!.envelope, Uint8Array.of(3));
    assertEquals(got.some((g) => g.envelope[0] === 2 || g.envelope[0] === 1), false);
  } finally {
    await victim.close();
    await bob.close();
    await r.close();
  }
});

Deno.test("every relay-only frame type sent by a daemon closes its link with bad_frame", async () => {
  const r = await startTestRelay();
  try {
    const id = new Uint8Array(16).fill(9);
    const frames = [
      encodeFrame({ type: "deliver", from: id, envelope: Uint8Array.of(1) }),
      encodeFrame({
        type: "welcome",
        id,
        registered: true,
        maxEnvelope: 1,
        framesPerSecond: 1,
        maxWatches: 1,
      }),
      encodeFrame({ type: "result", seq: 0, status: "delivered", code: null }),
      encodeFrame({ type: "presence", id, online: true }),
      encodeFrame({ type: "error", code: "internal", reason: "x" }),
      Uint8Array.of(0xc1, 0, 0, 0, 0), // a relay→daemon extension type, which the relay must not skip
    ];
    for (const [i, frame] of frames.entries()) {
      const c = await connectClient(r.address);
      c.pushRawFrame(frame);
      assertEquals(
        (await linkEnd(c)).code,
        "bad_frame",
        `frame ${i} (type 0x${frame[0]!.toString(16)})`,
      );
    }
    await waitFor(
      () => r.counter("link_errors_total") === frames.length,
      "every link error counted",
    );
    assertEquals(await r.scrape("sessions_online"), 0);
  } finally {
    await r.close();
  }
});

Deno.test("the recipient always sees the authenticated sender's id as from", async () => {
  const r = await startTestRelay();
  const got: Got[] = [];
  const keys = [await newKeys(), await newKeys(), await newKeys()];
  const bob = await connectClient(r.address, {
    onDeliver: (from, envelope) => got.push({ from, envelope }),
  });
  const senders = await Promise.all(keys.map((k) => connectClient(r.address, k)));
  try {
    for (const [i, s] of senders.entries()) {
      // Nothing a sender can put in an envelope changes `from`, not even another sender's id.
      const envelope = Uint8Array.of(i, ...senders[(i + 1) % senders.length]!.id);
      assertEquals((await s.send(bob.id, envelope)).status, "delivered");
    }
    await waitFor(() => got.length === senders.length, "all envelopes");
    for (const [i, g] of got.entries()) {
      const sender = g.envelope[0]!;
      assertEquals(sender, i, "in order");
      assertEquals(g.from, clientIdFromPublicKey(keys[sender]!.identity.publicKey));
      assertEquals(g.from, senders[sender]!.id);
    }
  } finally {
    for (const s of senders) await s.close();
    await bob.close();
    await settled(r);
    await r.close();
  }
});
