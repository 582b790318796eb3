/**
 * A group message's delivery is per member (issue 12, item 5): with one member's daemon stopped,
 * the message stays `sent` with that member's copy missing while the others' are delivered;
 * cancelling it cancels the missing copy only, and the message is `failed` naming that member.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import type { DaemonProcess } from "../daemon_harness.ts";
import { waitFor } from "../harness.ts";
import { createGroup } from "../../cmd/_group_api.ts";
import { groupTexts, party, waitEpoch } from "./_groups.ts";

Deno.test("groups: delivery status per member, and cancelling what one member still misses", async () => {
  const p = await party(3);
  const [a, b, c] = p.ds as [DaemonProcess, DaemonProcess, DaemonProcess];
  let cStopped = false;
  try {
    const g = await createGroup(a.api, "pair", ["b", "c"]);
    await waitEpoch(b, g.id, 1);
    await waitEpoch(c, g.id, 1);
    assertEquals(await c.stop(), 0);
    cStopped = true;
    const sent = await a.api.send({ to: "pair", text: "while c is away" });
    await waitFor(async () => (await groupTexts(b, g.id)).includes("while c is away"), "b has it");
    const copyOf = async (id: string) =>
      (await a.api.message(sent.id)).members!.find((m) => m.id === id)!.status;
    await waitFor(async () => await copyOf(b.id) === "delivered", "b's copy delivered");
    const rec = await a.api.message(sent.id);
    assertOk(rec.status === "queued" || rec.status === "sent", rec.status);
    assertOk((await copyOf(c.id)) !== "delivered", "c's copy is missing");

    const cancelled = await a.api.cancelMessage(sent.id);
    assertEquals(cancelled.status, "failed");
    assertEquals(
      Object.fromEntries(cancelled.members!.map((m) => [m.id, m.status])),
      { [b.id]: "delivered", [c.id]: "failed" },
    );
    const again = await a.api.cancelMessage(sent.id).then(() => "answered", (e) => e.code);
    assertEquals(again, "answered", "a failed message is answered as it is");
  } finally {
    await Promise.all([a.stop(), b.stop(), cStopped ? 0 : c.stop(), p.relay.stop()]);
  }
});
