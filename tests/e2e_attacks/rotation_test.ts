/**
 * A rotated identity is a new id, which no relay can pass off as the old one. After A rotates,
 * a relay that tries to merge the two (naming the old id as the sender of the new identity's
 * envelopes) gets no session and nothing stored under the old id; the old contact and its pinned
 * key stay as they were. Through an honest relay, A's signed rotation statement moves the
 * contact, its key and its history to the new id (protocol/README.md, section 3.1).
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { waitFor } from "../harness.ts";
import { fromBase64Url } from "../../protocol/bytes.ts";
import { idMatchesKey, parseId } from "../../protocol/identity.ts";
import { idKey } from "../../relay/mod.ts";
import {
  HS1,
  HS2,
  journaled,
  MSG,
  type Peer,
  received,
  sendAll,
  startWorld,
  waitDelivered,
} from "./_world.ts";

Deno.test("a rotated identity: the relay cannot merge it into the old one; its signed statement moves the contact", async () => {
  const w = await startWorld(2);
  try {
    const [a, b] = w.peers as [Peer, Peer];
    const oldId = a.id;
    const oldKey = a.key;
    await waitDelivered(a, await sendAll(a, b, ["before rotation"]));
    const pinnedOld = b.d.engine.contacts().find((c) => c.id === oldId)?.identity_key;
    assertEquals(pinnedOld, a.d.engine.me().identity_key, "B pinned A's old key");

    // The relay names A's old id as the sender of the new identity's envelopes, and hands B's
    // answers for the old id to the new one. In place before the rotation: the new identity
    // writes to B (its rotation statement) as soon as it is logged in.
    let newKey = "";
    w.hub.rule = (r, hub) => {
      if (newKey === "") return undefined;
      if (r.from === newKey && r.to === b.key) return hub.inject(b.key, oldKey, r.envelope);
      if (r.from === b.key && r.to === oldKey) return hub.inject(newKey, b.key, r.envelope);
      return undefined;
    };
    const me = await a.d.engine.rotateIdentity();
    const newId = me.id;
    newKey = idKey(parseId(newId));
    assertOk(newId !== oldId, "a new id");
    assertEquals(me.retired.map((r) => r.id), [oldId]);
    await waitFor(() => w.hub.sessions.has(newKey), "A to log in with its new identity");
    const after = await a.d.engine.send({ to: b.id, text: "after rotation" });
    await waitFor(
      () =>
        w.hub.seen(b.key, oldKey, HS2).length >= 1 && w.hub.seen(newKey, b.key, HS1).length >= 2,
      "B's answer and A's next attempt",
      20_000,
    );
    assertEquals(w.hub.seen(newKey, b.key, MSG).length, 0, "no session, nothing sealed");
    assertEquals(received(b, oldId), ["before rotation"], "nothing merged into the old id");
    assertEquals(a.d.engine.message(after.id).status, "queued");
    const oldContact = b.d.engine.contacts().find((c) => c.id === oldId);
    assertEquals(oldContact?.identity_key, pinnedOld, "the old pin is unchanged");

    // An honest relay: the rotation statement and the message arrive from the new id; B checks
    // the statement against the key it pinned for the old id and moves A there.
    w.hub.rule = undefined;
    await waitDelivered(a, [after.id]);
    assertEquals(b.d.engine.contacts().map((c) => c.id), [newId], "moved to the new id");
    assertEquals(b.d.engine.requests(), [], "no message request");
    const newNow = b.d.engine.contacts()[0]!;
    assertEquals(newNow.identity_key, me.identity_key, "the new id has the new key");
    assertOk(newNow.identity_key !== pinnedOld);
    const newPk = fromBase64Url(me.identity_key);
    assertOk(idMatchesKey(parseId(newId), newPk) && !idMatchesKey(parseId(oldId), newPk));
    assertEquals(received(b, oldId), [], "the history moved with the contact");
    assertEquals(received(b, newId), ["before rotation", "after rotation"]);
    assertEquals(journaled(b, { ...a, id: newId }), ["after rotation"]);
    assertEquals(journaled(b, { ...a, id: newId }, "request"), []);
    const shown = b.events.filter((e) => e.type === "rotation");
    assertEquals(shown.map((e) => e.type === "rotation" && e.data.old_id), [oldId]);
    assertEquals(b.d.engine.status().sessions, 1, "the old id's session is forgotten");

    // B answers the new id; A gets it under its new identity.
    await waitDelivered(b, await sendAll(b, { ...a, id: newId }, ["hello new A"]));
    assertEquals(received(a, b), ["hello new A"]);
  } finally {
    await w.close();
  }
});
