/**
 * A member that is behind (issue 12, item 5): while C's daemon is down the admin A adds D, and
 * then A's daemon is down too, so the change cannot reach C; B, which has it, sends to the group
 * at the new epoch. C comes back and gets B's copy first: a copy for an epoch C has not reached
 * waits (neither stored nor acknowledged; B sends it again), and once A is back and C has the
 * change, C gets it. Nothing is lost, and nothing is shown before C knows the epoch.
 *
 * @module
 */
import { assertEquals } from "../_assert.ts";
import { type DaemonProcess, startDaemonProcess, waitOnline } from "../daemon_harness.ts";
import { waitFor } from "../harness.ts";
import { addMembers, createGroup, getGroup } from "../../cmd/_group_api.ts";
import { groupTexts, party, waitEpoch } from "./_groups.ts";

Deno.test("groups: a copy for an epoch the member has not reached waits until it has", async () => {
  const p = await party(4);
  const [a, b, c, d] = p.ds as [DaemonProcess, DaemonProcess, DaemonProcess, DaemonProcess];
  let a2: DaemonProcess | undefined, c2: DaemonProcess | undefined;
  try {
    const g = await createGroup(a.api, "team", ["b", "c"]);
    for (const x of [b, c]) await waitEpoch(x, g.id, 1);
    assertEquals(await c.stop(), 0);
    await addMembers(a.api, "team", ["d"]); // the fourth daemon, named d by the others
    await waitEpoch(b, g.id, 2);
    assertEquals(await a.stop(), 0); // its carrier to C is still queued in it
    const sent = await b.api.send({ to: g.id, text: "at epoch 2" });
    c2 = await startDaemonProcess({ relay: p.relay.address, stateDir: c.stateDir });
    await waitOnline(c2);
    const copy = async () =>
      (await b.api.message(sent.id)).members!.find((m) => m.id === c.id)!.status;
    await waitFor(async () => await copy() === "sent", "B's copy handed to C", 30_000);
    assertEquals((await getGroup(c2.api, g.id))!.epoch, 1, "C has not heard of epoch 2");
    assertEquals(await groupTexts(c2, g.id), [], "nothing shown for an epoch not reached");
    assertEquals(await copy(), "sent", "and not acknowledged");

    a2 = await startDaemonProcess({ relay: p.relay.address, stateDir: a.stateDir });
    await waitEpoch(c2, g.id, 2);
    await waitFor(async () => await copy() === "delivered", "B's copy delivered", 30_000);
    assertEquals(await groupTexts(c2, g.id), ["at epoch 2"]);
    assertEquals(await groupTexts(d, g.id), ["at epoch 2"]);
  } finally {
    await Promise.all([b.stop(), d.stop(), a2?.stop() ?? 0, c2?.stop() ?? 0, p.relay.stop()]);
  }
});
