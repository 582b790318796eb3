/**
 * Groups end to end (issue 12, items 4–6): real daemon processes through a real relay, and one
 * raw peer (mallory, an E2EPeer that is a member but no admin, for the forgeries). A group of four
 * daemons and mallory: a message reaches every member with a status per member; a removed member
 * receives nothing sent afterwards; an added member nothing sent before; a change signed by a
 * non-admin, a replayed one and one that skips an epoch are refused by every member; and a
 * removed receiver drops a group copy from a sender that has not heard of the removal.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { E2EPeer } from "../attacks/_e2e_peer.ts";
import { collectEvents, type DaemonProcess } from "../daemon_harness.ts";
import { waitFor } from "../harness.ts";
import { fromBase64Url, toBase64Url } from "../../protocol/bytes.ts";
import { makeGroupChange, parseGroupChange } from "../../protocol/group.ts";
import { addMembers, createGroup, getGroup, removeMember } from "../../cmd/_group_api.ts";
import { errorsWith, groupTexts, party, waitEpoch } from "./_groups.ts";

async function delivered(d: DaemonProcess, id: string): Promise<void> {
  await waitFor(
    async () => (await d.api.message(id)).status === "delivered",
    `${id} delivered`,
    20_000,
  );
}

async function received(d: DaemonProcess, group: string, text: string): Promise<void> {
  await waitFor(
    async () => (await groupTexts(d, group)).includes(text),
    `${d.id} has "${text}"`,
    20_000,
  );
}

Deno.test("groups e2e: fan-out, removal, addition, forged changes refused by every member", async () => {
  const p = await party(5);
  const [a, b, c, d, e] = p.ds as [
    DaemonProcess,
    DaemonProcess,
    DaemonProcess,
    DaemonProcess,
    DaemonProcess,
  ];
  const mallory = await E2EPeer.connect(p.relay.address, { respond: true });
  const evs = p.ds.map((x) => collectEvents(x));
  try {
    for (const x of p.ds) await x.api.addContact({ id: mallory.id, name: "m" });
    const g = await createGroup(a.api, "team", ["b", "c", "d", "m"]);
    assertEquals(g.epoch, 1);
    assertEquals(g.admins, [a.id]);
    for (const x of [b, c, d]) await waitEpoch(x, g.id, 1);
    assertEquals(
      (await getGroup(b.api, g.id))!.members.sort(),
      [a.id, b.id, c.id, d.id, mallory.id].sort(),
    );
    assertEquals(await getGroup(e.api, g.id), null);

    // A message reaches every member; delivered once every member's daemon acknowledged it.
    const one = await a.api.send({ to: "team", text: "one" });
    await delivered(a, one.id);
    const rec = await a.api.message(one.id);
    assertEquals(rec.members!.map((m) => m.id).sort(), [b.id, c.id, d.id, mallory.id].sort());
    assertOk(rec.members!.every((m) => m.status === "delivered"));
    for (const x of [b, c, d]) assertEquals(await groupTexts(x, g.id), ["one"]);
    assertOk(mallory.opened.some((o) => o.text === "one"), "mallory got her copy");
    // Any member sends too (b names the group by its id: it has no name for it here).
    const fromB = await b.api.send({ to: g.id, text: "from b" });
    await delivered(b, fromB.id);
    for (const x of [a, c, d]) await received(x, g.id, "from b");

    // Remove d: it receives nothing sent afterwards, from the admin or from anyone else.
    const g2 = await removeMember(a.api, "team", "d");
    assertEquals(g2.epoch, 2);
    for (const x of [b, c, d]) await waitEpoch(x, g.id, 2);
    assertEquals((await getGroup(d.api, g.id))!.state, "removed");
    const after = await a.api.send({ to: "team", text: "after d left" });
    const afterB = await b.api.send({ to: g.id, text: "b after d left" });
    await delivered(a, after.id);
    await delivered(b, afterB.id);
    assertEquals((await a.api.message(after.id)).members!.length, 3, "no copy for d");
    for (const x of [b, c]) await received(x, g.id, "after d left");
    await received(c, g.id, "b after d left");
    assertEquals(await groupTexts(d, g.id), ["one", "from b"]);
    const refused = await d.api.send({ to: g.id, text: "still here?" }).catch((err) => err);
    assertEquals((refused as { code?: string }).code, "bad_request");

    // Add e: it receives nothing sent before it joined.
    await addMembers(a.api, "team", ["e"]);
    for (const x of [b, c, e]) await waitEpoch(x, g.id, 3);
    const welcome = await a.api.send({ to: "team", text: "welcome e" });
    await delivered(a, welcome.id);
    await received(e, g.id, "welcome e");
    assertEquals(await groupTexts(e, g.id), ["welcome e"]);
    assertEquals(await groupTexts(d, g.id), ["one", "from b"]);

    // Mallory, a member and no admin, forges: every member refuses, and nothing changes.
    await waitFor(() => mallory.opened.filter((o) => o.gc).length >= 3, "mallory has 3 changes");
    const chains = mallory.opened.filter((o) => o.gc).map((o) => o.gc!);
    const first = chains[0]!.at(-1)!, third = chains[2]!.at(-1)!;
    const now = parseGroupChange(fromBase64Url(third));
    assertEquals(now.epoch, 3);
    const members = [a, b, c, e]; // every member, the admin included (d was removed)
    const kept = now.members.filter((m) => m !== c.id);
    const forgeries = [
      // Signed by a non-admin: removes c.
      toBase64Url(
        await makeGroupChange(mallory.identity, {
          group: g.id,
          epoch: 4,
          createdMs: Date.now(),
          prev: now.hash,
          members: kept,
          admins: now.admins,
        }),
      ),
      first, // a replay of epoch 1
      third, // a replay of epoch 3, not from its signer
      // Skips epoch 4.
      toBase64Url(
        await makeGroupChange(mallory.identity, {
          group: g.id,
          epoch: 5,
          createdMs: Date.now(),
          prev: now.hash,
          members: kept,
          admins: [...now.admins, mallory.id],
        }),
      ),
    ];
    for (const x of members) {
      await mallory.handshake(x.id, 10_000);
      for (const gc of forgeries) {
        await mallory.send(x.id, await mallory.sealText(x.id, "", false, { gc: [gc] }));
      }
    }
    for (const [i, x] of p.ds.entries()) {
      if (!members.includes(x)) continue;
      const ev = evs[i]!.events;
      await waitFor(
        () => errorsWith(ev, `Group change from ${mallory.id} refused`).length >= 4,
        `${x.id} refused 4`,
        20_000,
      );
      const why = errorsWith(ev, mallory.id).map((m) => (m.data as { message: string }).message);
      assertOk(why.some((w) => w.includes("no admin at epoch 3")), why.join("\n"));
      assertOk(why.some((w) => w.includes("epoch 1 does not follow 3")), why.join("\n"));
      assertOk(
        why.some((w) => w.includes("epoch 3 was applied already (a replay)")),
        why.join("\n"),
      );
      assertOk(why.some((w) => w.includes("epoch 5 does not follow 3")), why.join("\n"));
      const held = (await getGroup(x.api, g.id))!;
      assertEquals(held.epoch, 3);
      assertOk(held.members.includes(c.id) && held.admins.length === 1, JSON.stringify(held));
    }
    // The receivers' own checks: mallory (who plays a sender that has not heard of the changes)
    // sends a group copy to d, removed (dropped), and one to c as it should (kept). A one-to-one
    // message after each is the barrier. (A copy for an epoch not reached waits: race_test.ts.)
    await mallory.handshake(d.id, 10_000);
    const copy = (ge: number, text: string) => ({ g: g.id, ge, gm: crypto.randomUUID(), text });
    const sendCopy = async (x: DaemonProcess, ge: number, text: string) => {
      const extra = copy(ge, text);
      await mallory.send(x.id, await mallory.sealText(x.id, text, false, extra));
    };
    await sendCopy(d, 2, "to d, removed");
    await sendCopy(c, 3, "to c, epoch 3");
    for (const x of [c, d]) {
      await mallory.send(x.id, await mallory.sealText(x.id, `barrier for ${x.id}`));
      await waitFor(
        async () =>
          (await x.api.messages({ limit: 1000 })).some((m) => m.text.startsWith("barrier")),
        `${x.id} took the barrier`,
        20_000,
      );
    }
    assertEquals(await groupTexts(d, g.id), ["one", "from b"]);
    assertEquals((await groupTexts(c, g.id)).filter((t) => t.startsWith("to c")), [
      "to c, epoch 3",
    ]);

    // The group still works for everyone in it.
    const last = await c.api.send({ to: g.id, text: "still a team" });
    await delivered(c, last.id);
    for (const x of [a, b, e]) await received(x, g.id, "still a team");
    assertEquals(await groupTexts(d, g.id), ["one", "from b"]);
  } finally {
    for (const x of evs) x.stop();
    await mallory.close();
    await p.done();
  }
});
