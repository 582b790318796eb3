/**
 * Issue 9, item 5, with real processes: a message sent while the relay is down to a well-formed
 * id nobody registered fails with `recipient_unknown` as soon as the relay is back (a status
 * event, GET /messages/ID) and the contact the send made is gone; `schied cancel` takes back a
 * queued message (never delivered, even once the peer comes online), refuses a delivered one
 * (exit 1) and an incoming one, and names an unknown id (exit 4).
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { randomSecret, signingKeyFromSeed } from "../../protocol/_crypto.ts";
import { clientIdFromPublicKey, formatId } from "../../protocol/identity.ts";
import { startRelayProcess, waitFor } from "../harness.ts";
import { cli, collectEvents, startDaemonProcess, waitOnline } from "../daemon_harness.ts";

Deno.test("e2e: an unregistered id sent to while the relay is down fails with recipient_unknown once it is back; the contact goes", async () => {
  let relay = await startRelayProcess();
  const port = Number(new URL(relay.address).port);
  const a = await startDaemonProcess({ relay: relay.address });
  const ev = collectEvents(a);
  try {
    await waitOnline(a);
    assertEquals(await relay.stop(), 0);
    await waitFor(async () => (await a.api.status()).relay.state !== "online", "A offline");
    const k = await signingKeyFromSeed(randomSecret());
    const typo = formatId(clientIdFromPublicKey(k.publicKey));
    const sent = await cli(["send", "--state-dir", a.stateDir, typo, "hello?"]);
    assertEquals(sent.code, 0, sent.stderr);
    const id = sent.stdout.trim();
    assertEquals((await a.api.message(id)).status, "queued");
    assertOk((await a.api.contacts()).some((c) => c.id === typo), "the send made a contact");

    relay = await startRelayProcess({ stateDir: relay.stateDir, port });
    await waitOnline(a);
    const online = Date.now();
    await waitFor(
      () =>
        ev.events.some((e) =>
          e.type === "status" && e.data.id === id && e.data.status === "failed" &&
          e.data.reason === "recipient_unknown"
        ),
      "the failed status event",
      10_000,
    );
    assertOk(Date.now() - online < 5_000, `failed promptly: ${Date.now() - online} ms`);
    const m = await a.api.message(id);
    assertEquals([m.status, m.reason], ["failed", "recipient_unknown"]);
    assertEquals((await a.api.contacts()).some((c) => c.id === typo), false, "contact gone");
    assertEquals((await a.api.status()).outbox.size, 0);
  } finally {
    ev.stop();
    await a.stop();
    await relay.stop();
  }
});

Deno.test("e2e: schied cancel takes back a queued message (never delivered), refuses a delivered or incoming one, exit 4 for an unknown id", async () => {
  const relay = await startRelayProcess();
  const a = await startDaemonProcess({ relay: relay.address });
  let b = await startDaemonProcess({ relay: relay.address });
  try {
    await Promise.all([waitOnline(a), waitOnline(b)]);
    await a.api.addContact({ id: b.id, name: "bob" });
    await b.api.addContact({ id: a.id });
    const bDir = b.stateDir;
    assertEquals(await b.stop(), 0);

    const sent = await cli(["send", "--state-dir", a.stateDir, "bob", "do not send this"]);
    assertEquals(sent.code, 0, sent.stderr);
    const id = sent.stdout.trim();
    const c = await cli(["cancel", "--state-dir", a.stateDir, id]);
    assertEquals(c.code, 0, c.stderr);
    assertEquals(c.stdout, `cancelled ${id}\n`);
    const m = await a.api.message(id);
    assertEquals([m.status, m.reason], ["failed", "cancelled"]);
    const again = await cli(["cancel", "--state-dir", a.stateDir, id, "--json"]);
    assertEquals(again.code, 0, again.stderr);
    assertEquals(JSON.parse(again.stdout).reason, "cancelled");

    // B comes back; what A sends next is delivered, the cancelled message never is.
    b = await startDaemonProcess({ relay: relay.address, stateDir: bDir });
    await waitOnline(b);
    const next = await a.api.send({ to: "bob", text: "this one" });
    await waitFor(async () => (await a.api.message(next.id)).status === "delivered", "delivery");
    const texts = (await b.api.messages({ with: a.id })).map((x) => x.text);
    assertEquals(texts, ["this one"]);
    assertEquals((await a.api.message(id)).status, "failed");

    const late = await cli(["cancel", "--state-dir", a.stateDir, next.id]);
    assertEquals(late.code, 1, late.stderr);
    assertOk(/^schied: error: .*delivered already/m.test(late.stderr), late.stderr);
    assertOk(/^schied: hint: /m.test(late.stderr), late.stderr);
    const res = await fetch(`${a.apiUrl}/messages/${next.id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${a.token}` },
    });
    assertEquals([res.status, (await res.json()).error.code], [409, "already_delivered"]);

    const incoming = (await b.api.messages({ with: a.id }))[0]!.id;
    const inc = await cli(["cancel", "--state-dir", b.stateDir, incoming]);
    assertEquals(inc.code, 1, inc.stderr);
    assertOk(inc.stderr.includes("only a message you sent"), inc.stderr);

    const unknown = await cli(["cancel", "--state-dir", a.stateDir, crypto.randomUUID()]);
    assertEquals(unknown.code, 4, unknown.stderr);
    assertOk(/^schied: error: No message with id /m.test(unknown.stderr), unknown.stderr);
    assertOk(/^schied: hint: use the id 'schied send' printed/m.test(unknown.stderr));
  } finally {
    await a.stop();
    await b.stop();
    await relay.stop();
  }
});
