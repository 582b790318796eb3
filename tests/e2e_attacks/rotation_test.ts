/**
 * A rotated identity is a new contact. After A rotates, B sees A's new id as a different peer
 * with its own key; the old contact, its pinned key and its history stay as they were. A relay
 * that tries to merge the two (naming the old id as the sender of the new identity's envelopes)
 * gets no session and nothing stored under the old id.
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

Deno.test("a rotated identity is a new contact; the relay cannot merge it into the old one", async () => {
  const w = await startWorld(2);
  try {
    const [a, b] = w.peers as [Peer, Peer];
    const oldId = a.id;
    const oldKey = a.key;
    await waitDelivered(a, await sendAll(a, b, ["before rotation"]));
    const pinnedOld = b.d.engine.contacts().find((c) => c.id === oldId)?.identity_key;
    assertEquals(pinnedOld, a.d.engine.me().identity_key, "B pinned A's old key");

    const me = await a.d.engine.rotateIdentity();
    const newId = me.id;
    const newKey = idKey(parseId(newId));
    assertOk(newId !== oldId, "a new id");
    assertEquals(me.retired.map((r) => r.id), [oldId]);
    await waitFor(() => w.hub.sessions.has(newKey), "A to log in with its new identity");

    // The relay names A's old id as the sender of the new identity's envelopes, and hands B's
    // answers for the old id to the new one.
    w.hub.rule = (r, hub) => {
      if (r.from === newKey && r.to === b.key) return hub.inject(b.key, oldKey, r.envelope);
      if (r.from === b.key && r.to === oldKey) return hub.inject(newKey, b.key, r.envelope);
      return undefined;
    };
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

    // An honest relay: the message arrives from the new id, a stranger to B: a message request,
    // which B accepts to make it a separate contact.
    w.hub.rule = undefined;
    await waitDelivered(a, [after.id]);
    assertEquals(b.d.engine.contacts().map((c) => c.id), [oldId], "the new id is no contact yet");
    assertEquals(b.d.engine.requests().map((r) => r.id), [newId], "but a message request");
    assertEquals(b.d.engine.requests()[0]!.identity_key, me.identity_key);
    await b.d.engine.acceptRequest({ id: newId });
    const contacts = b.d.engine.contacts();
    assertEquals(contacts.map((c) => c.id).sort(), [oldId, newId].sort(), "two contacts");
    const oldNow = contacts.find((c) => c.id === oldId)!;
    const newNow = contacts.find((c) => c.id === newId)!;
    assertEquals(oldNow.identity_key, pinnedOld, "B's pin for the old id is unchanged");
    assertEquals(newNow.identity_key, me.identity_key, "the new id has the new key");
    assertOk(newNow.identity_key !== oldNow.identity_key);
    const newPk = fromBase64Url(me.identity_key);
    assertOk(idMatchesKey(parseId(newId), newPk) && !idMatchesKey(parseId(oldId), newPk));
    assertEquals(received(b, oldId), ["before rotation"]);
    assertEquals(received(b, newId), ["after rotation"]);
    assertEquals(journaled(b, { ...a, id: newId }, "request"), ["after rotation"]);
    assertEquals(b.d.engine.status().sessions, 2, "one session per id");

    // B answers the new id; A gets it under its new identity.
    await waitDelivered(b, await sendAll(b, { ...a, id: newId }, ["hello new A"]));
    assertEquals(received(a, b), ["hello new A"]);
  } finally {
    await w.close();
  }
});
