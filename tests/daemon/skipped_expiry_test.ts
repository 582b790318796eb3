/**
 * Issue 10, forward secrecy of skipped keys: a message key skipped (its message lost or late) is
 * kept at most RATCHET_SKIPPED_MAX_AGE_MS, in a session that stays idle too. The daemon's tick
 * finds the sessions whose oldest skipped key expired (`sessions.skipped_until`, one indexed
 * query) and sweeps them: after that, B's stored state no longer opens the lost message.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { waitFor } from "../harness.ts";
import { delivered, pair, received, type Side } from "./_delivery_world.ts";
import { SEALED } from "../../daemon/_migrations.ts";
import { RATCHET_SKIPPED_MAX_AGE_MS } from "../../protocol/constants.ts";
import { E2ESession } from "../../protocol/session.ts";

/** B's stored sessions with A, parsed from the database (not B's objects in memory). */
function stored(b: Side, a: Side) {
  const rows = b.store.db.prepare(
    "SELECT sid, state, skipped_until FROM sessions WHERE me = ? AND peer = ?",
  ).all(b.idText, a.idText) as { sid: string; state: Uint8Array; skipped_until: number | null }[];
  return rows.map((r) => ({
    until: r.skipped_until,
    session: E2ESession.parse(
      b.store.sealer.open(r.state, SEALED.session, `${b.idText}/${a.idText}/${r.sid}`),
    ),
  }));
}

async function opens(sessions: { session: E2ESession }[], env: Uint8Array, now: number) {
  for (const { session } of sessions) {
    try {
      await session.open(env, { now });
      return true;
    } catch { /* not this one */ }
  }
  return false;
}

Deno.test("a skipped key of an idle session is swept once it expires: the stored state no longer opens the lost message", async () => {
  const { a, b, relay, clock } = await pair();
  await delivered(a, [await a.send(b, "one")]);
  // The relay loses "two" and passes "three": B skips a key for "two" (and holds "three" back,
  // delivery is in order). Then it drops all of A's envelopes (A's resends of "two" go
  // nowhere), and the session stays idle.
  let lost: Uint8Array | undefined, n = 0;
  relay.rule = (from, _to, envelope) => {
    if (from !== a) return "route";
    if (n++ === 0) lost = envelope;
    return n === 2 ? "route" : "drop";
  };
  await a.send(b, "two");
  await a.send(b, "three");
  await waitFor(() => stored(b, a).some((s) => s.until !== null), "B skipped a key");
  assertOk(lost, "the lost envelope");
  const due = stored(b, a).find((s) => s.until !== null)?.until;
  assertOk(typeof due === "number" && due > clock.now(), `an expiry is stored: ${due}`);
  assertEquals(due, clock.now() + RATCHET_SKIPPED_MAX_AGE_MS, "when the key was skipped, + 15 min");
  // Positive control: the state as stored now opens it (copies: parse gives fresh objects).
  assertOk(await opens(stored(b, a), lost, clock.now()), "the skipped key opens it");

  assertEquals(b.sessions.expiryDue(clock.now()), false, "nothing due yet");
  clock.advance(RATCHET_SKIPPED_MAX_AGE_MS + 1);
  assertOk(b.sessions.expiryDue(clock.now()), "due");
  assertEquals(await b.store.write(() => b.sessions.expireSkipped(clock.now())), 1);
  const after = stored(b, a);
  assertEquals(after.map((s) => s.until), after.map(() => null), "no skipped key left");
  assertEquals(await opens(after, lost, clock.now()), false, "the stored state cannot open it");
  assertEquals(b.sessions.expiryDue(clock.now()), false);
  assertEquals(received(b, a), ["one"], "three waits for two, as delivery is in order");
});

Deno.test("a state stored before the expiry column (migration 8 marks it due) is swept once and then carries its own expiry", async () => {
  const { a, b, clock } = await pair();
  await delivered(a, [await a.send(b, "one")]);
  await waitFor(() => received(b, a).length === 1, "B got one");
  b.store.db.prepare("UPDATE sessions SET skipped_until = 0").run();
  assertOk(b.sessions.expiryDue(clock.now()));
  assertEquals(await b.store.write(() => b.sessions.expireSkipped(clock.now())), 0, "none dropped");
  assertEquals(stored(b, a).map((s) => s.until), [null], "its column says: no skipped key");
  assertEquals(b.sessions.expiryDue(clock.now()), false, "not due again");
});
