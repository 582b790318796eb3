import { assertEquals, assertOk } from "../_assert.ts";
import type { JournalEvent } from "../../daemon/service.ts";
import { startRelayProcess, waitFor } from "../harness.ts";
import {
  cli,
  collectEvents,
  startDaemonProcess,
  startPair,
  waitOnline,
} from "../daemon_harness.ts";

Deno.test("outbox: a message not delivered within --give-up fails with a status event and a reason", async () => {
  const relay = await startRelayProcess();
  const b = await startDaemonProcess({ relay: relay.address });
  await waitOnline(b);
  assertEquals(await b.stop(), 0); // B is registered, then gone for good
  const a = await startDaemonProcess({ relay: relay.address, args: ["--give-up", "2"] });
  await waitOnline(a);
  const ev = collectEvents(a);
  try {
    const sent = await a.api.send({ to: b.id, text: "into the void" });
    const failed = await waitFor(
      () =>
        ev.events.find((e): e is Extract<JournalEvent, { type: "status" }> =>
          e.type === "status" && e.data.id === sent.id && e.data.status === "failed"
        ),
      "the failed status event",
      15_000,
    );
    assertOk(String(failed.data.reason).includes("not delivered"), String(failed.data.reason));
    const m = await a.api.message(sent.id);
    assertEquals(m.status, "failed");
    const s = await a.api.status();
    assertEquals(s.outbox.size, 0, "a failed message leaves the outbox");
    const r = await cli(["status", "--state-dir", a.stateDir]);
    assertEquals(r.code, 0, r.stderr);
    assertOk(/outbox +0 pending/.test(r.stdout), r.stdout);
    // A message given up on does not block the conversation: B comes back, later ones arrive.
    const b2 = await startDaemonProcess({ stateDir: b.stateDir });
    try {
      await waitOnline(b2);
      const later = await a.api.send({ to: b.id, text: "after the void" });
      await waitFor(
        async () => (await a.api.message(later.id)).status === "delivered",
        "delivered",
        15_000,
      );
      const got = (await b2.api.messages({ with: a.id })).map((m) => m.text);
      assertEquals(got, ["after the void"]);
    } finally {
      assertEquals(await b2.stop(), 0);
    }
  } finally {
    ev.stop();
    assertEquals(await a.stop(), 0);
    assertEquals(await relay.stop(), 0);
  }
});

Deno.test("send: a text that does not fit one envelope once JSON-escaped is refused up front", async () => {
  const { a, b, done } = await startPair();
  try {
    // Sent as text/plain, so the request itself is small; the JSON payload inside would not fit.
    for (const text of ['"'.repeat(40_000), "\u0001".repeat(20_000), "x".repeat(60_001)]) {
      const res = await fetch(`${a.apiUrl}/send?to=${b.id}`, {
        method: "POST",
        headers: { authorization: `Bearer ${a.token}`, "content-type": "text/plain" },
        body: text,
      });
      assertEquals((await res.json()).error?.code, "text_too_long");
      assertEquals(res.status, 413);
    }
    // The conversation is not blocked: a normal message still goes through.
    const ok = await a.api.send({ to: b.id, text: "x".repeat(60_000) });
    await waitFor(async () => (await a.api.message(ok.id)).status === "delivered", "delivered");
    // The outbox lets go of it once the write that recorded the delivery is on disk (a moment
    // after the status reads `delivered`).
    await waitFor(async () => (await a.api.status()).outbox.size === 0, "the outbox empty");
  } finally {
    await done();
  }
});

Deno.test("daemon: a non-loopback API address needs --api-non-loopback, and the Host check follows it", async () => {
  const dir = await Deno.makeTempDir();
  // 127.0.0.2 is outside the loopback names the API accepts by default (and stays on this machine).
  const refused = await cli(["daemon", "--api", "127.0.0.2:0", "--state-dir", dir]);
  assertEquals(refused.code, 2);
  assertOk(refused.stderr.includes("--api-non-loopback"), refused.stderr);
  const d = await startDaemonProcess({
    stateDir: dir,
    args: ["--api", "127.0.0.2:0", "--api-non-loopback"],
  });
  try {
    assertOk(d.apiUrl.startsWith("http://127.0.0.2:"), d.apiUrl);
    assertEquals((await d.api.me()).id, d.id);
    const port = new URL(d.apiUrl).port;
    const conn = await Deno.connect({ hostname: "127.0.0.2", port: Number(port) });
    await conn.write(
      new TextEncoder().encode(
        `GET /me HTTP/1.1\r\nHost: evil.example:${port}\r\nAuthorization: Bearer ${d.token}\r\nConnection: close\r\n\r\n`,
      ),
    );
    const reply = new TextDecoder().decode(await new Response(conn.readable).arrayBuffer());
    assertOk(reply.startsWith("HTTP/1.1 421"), reply.slice(0, 40));
  } finally {
    assertEquals(await d.stop(), 0);
  }
});
