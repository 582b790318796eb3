/**
 * Attack: an eavesdropper records message 3 (the login) of a good session and replays it into a
 * new session, hoping to log in as that daemon. The login signature covers the handshake hash,
 * which includes the relay's fresh ephemeral, so the old message 3 cannot fit a new session.
 */
import { assertEquals } from "../_assert.ts";
import { LinkInitiator } from "../../protocol/link_handshake.ts";
import { daemonKeys, honestHandshake, RawClient, settled, startTestRelay } from "./_helpers.ts";

Deno.test("message 3 of a finished session replayed after a fresh message 1 is refused", async () => {
  const r = await startTestRelay();
  try {
    const victim = await daemonKeys();
    const good = await RawClient.open(r.url);
    const t = await honestHandshake(good, r.key, victim);
    await good.next(); // the WELCOME record: the victim is logged in
    assertEquals(r.counter("logins_total"), 1);
    await good.close();

    // The attacker knows no secret; it starts a new handshake with its own ephemeral (the
    // relay cannot tell) and then sends the victim's recorded message 3.
    const attacker = await daemonKeys();
    const c = await RawClient.open(r.url);
    const init = new LinkInitiator(r.key, attacker.linkKey, attacker.identity);
    c.send(await init.start());
    await c.next(); // message 2
    c.send(t.msg3);
    assertEquals(await c.ended(), { code: 4012, reason: "auth_failed" });
    assertEquals(c.received.length, 1, "only message 2 came back");
    await settled(r);
    assertEquals(r.counter("logins_total"), 1, "no second login");
    assertEquals(await r.scrape("sessions_online"), 0);
  } finally {
    await r.close();
  }
});

Deno.test("the whole recorded transcript (message 1 and 3) replayed is refused", async () => {
  const r = await startTestRelay();
  try {
    const good = await RawClient.open(r.url);
    const t = await honestHandshake(good, r.key);
    await good.next();
    await good.close();

    const c = await RawClient.open(r.url);
    c.send(t.msg1); // the relay answers with a new ephemeral of its own
    const msg2 = await c.next();
    assertEquals(msg2.length, t.msg2.length);
    assertEquals(msg2.subarray(0, 32).every((b, i) => b === t.msg2[i]), false, "fresh ephemeral");
    c.send(t.msg3);
    assertEquals(await c.ended(), { code: 4012, reason: "auth_failed" });
    assertEquals(c.received.length, 1);
    await settled(r);
    assertEquals(r.counter("logins_total"), 1);
  } finally {
    await r.close();
  }
});

Deno.test("a captured message 3 that never reached the relay cannot be used later", async () => {
  const r = await startTestRelay();
  try {
    // A man in the middle withholds the victim's message 3 and tries it on its own session.
    const victim = await daemonKeys();
    const first = await RawClient.open(r.url);
    const t = await honestHandshake(first, r.key, victim, false);
    await first.close();

    for (let attempt = 0; attempt < 3; attempt++) {
      const c = await RawClient.open(r.url);
      c.send(
        attempt === 0
          ? t.msg1
          : await new LinkInitiator(r.key, victim.linkKey, victim.identity).start(),
      );
      await c.next();
      c.send(t.msg3);
      assertEquals(await c.ended(), { code: 4012, reason: "auth_failed" }, `attempt ${attempt}`);
      assertEquals(c.received.length, 1);
    }
    await settled(r);
    assertEquals(r.counter("logins_total"), 0);
    assertEquals(r.counter("registrations_total"), 0);
    assertEquals(await r.scrape("registry_ids"), 0, "the victim's id was not registered");
    assertEquals(r.counter("handshakes_failed_total"), 4);

    // Control: the victim itself still logs in.
    const ok = await RawClient.open(r.url);
    await honestHandshake(ok, r.key, victim);
    await ok.next();
    assertEquals(r.counter("logins_total"), 1);
    await ok.close();
  } finally {
    await r.close();
  }
});
