import { assertEquals, assertOk } from "../_assert.ts";
import { startRelayProcess, waitFor } from "../harness.ts";
import { cli, collectEvents, startDaemonProcess, waitOnline } from "../daemon_harness.ts";

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
        ev.events.find((e) =>
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
  } finally {
    ev.stop();
    assertEquals(await a.stop(), 0);
    assertEquals(await relay.stop(), 0);
  }
});
