/**
 * Attack: a prober tells failure causes apart to learn which ids are registered on a closed
 * relay, or which check it got past. An unknown id, a bad signature and a bad MAC must all end
 * in exactly the same observable way: message 2, then close 4012 `auth_failed`, nothing else.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { concat } from "../../protocol/bytes.ts";
import { PROTOCOL_VERSION } from "../../protocol/constants.ts";
import { sign, type SigningKeyPair } from "../../protocol/_crypto.ts";
import { linkPrologue, loginSignedBytes } from "../../protocol/link_handshake.ts";
import { HandshakeState } from "../../protocol/noise.ts";
import { connectClient } from "../harness.ts";
import {
  daemonKeys,
  flipBit,
  RawClient,
  settled,
  startTestRelay,
  type TestRelay,
} from "./_helpers.ts";

/** Everything a prober can see of one attempt. */
interface Observed {
  closeCode: number;
  closeReason: string;
  messages: number;
  msg2Length: number;
}

/** Logs in with `payload(h)` as the login, message 3 passed through `tamper`. */
async function attempt(
  r: TestRelay,
  payload: (h: Uint8Array) => Promise<Uint8Array>,
  tamper: (m: Uint8Array) => Uint8Array = (m) => m,
): Promise<Observed> {
  const { linkKey } = await daemonKeys();
  const c = await RawClient.open(r.url);
  const hs = new HandshakeState({
    pattern: "XK",
    initiator: true,
    prologue: linkPrologue([PROTOCOL_VERSION]),
    s: linkKey,
    rs: r.key,
  });
  c.send(concat(Uint8Array.of(1, PROTOCOL_VERSION), await hs.writeMessage(new Uint8Array())));
  const msg2 = await c.next();
  await hs.readMessage(msg2);
  c.send(tamper(await hs.writeMessage(payload)));
  const closed = await c.ended();
  return {
    closeCode: closed.code,
    closeReason: closed.reason,
    messages: c.received.length,
    msg2Length: msg2.length,
  };
}

const honest = (k: SigningKeyPair) => async (h: Uint8Array) =>
  concat(k.publicKey, await sign(k, loginSignedBytes(h)));

Deno.test("unknown id, bad signature and bad MAC look exactly alike on a closed relay", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "schied-attack-" });
  try {
    // Register the victim while registration is open, then close it.
    const victim = await daemonKeys();
    const open = await startTestRelay({ stateDir });
    const reg = await connectClient(open.address, victim);
    assertEquals(reg.welcome.registered, true);
    await reg.close();
    await open.close();

    const r = await startTestRelay({ stateDir, openRegistration: false });
    try {
      assertEquals(await r.scrape("registry_ids"), 1);
      const stranger = await daemonKeys();
      const attacker = await daemonKeys();
      const results: Record<string, Observed> = {
        "valid login of an unregistered id": await attempt(r, honest(stranger.identity)),
        "registered id, signature by another key": await attempt(
          r,
          async (h) =>
            concat(victim.identity.publicKey, await sign(attacker.identity, loginSignedBytes(h))),
        ),
        "registered id, corrupted MAC": await attempt(
          r,
          honest(victim.identity),
          (m) => flipBit(m, m.length - 1, 0),
        ),
        "registered id, corrupted static key ciphertext": await attempt(
          r,
          honest(victim.identity),
          (m) => flipBit(m, 0, 0),
        ),
      };
      const expected: Observed = {
        closeCode: 4012,
        closeReason: "auth_failed",
        messages: 1,
        msg2Length: 49,
      };
      for (const [what, o] of Object.entries(results)) assertEquals(o, expected, what);
      await settled(r);
      assertEquals(r.counter("logins_total"), 0);
      assertEquals(r.counter("handshakes_failed_total"), Object.keys(results).length);
      assertEquals(await r.scrape("registry_ids"), 1, "the stranger was not registered");

      // Control: the registered victim, honestly, gets in (so the relay is not refusing all).
      const ok = await connectClient(r.address, victim);
      assertOk(!ok.welcome.registered, "a known id");
      await ok.close();
    } finally {
      await r.close();
    }
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("on an open relay, the same three failures are alike too", async () => {
  const r = await startTestRelay();
  try {
    const k = await daemonKeys();
    const other = await daemonKeys();
    const seen = [
      await attempt(
        r,
        async (h) => concat(k.identity.publicKey, await sign(other.identity, loginSignedBytes(h))),
      ),
      await attempt(r, honest(k.identity), (m) => flipBit(m, m.length - 1, 7)),
      await attempt(r, honest(k.identity), (m) => flipBit(m, 60, 3)),
    ];
    for (const o of seen) assertEquals(o, seen[0]);
    assertEquals(seen[0]!.closeCode, 4012);
    await settled(r);
    assertEquals(await r.scrape("registry_ids"), 0);
  } finally {
    await r.close();
  }
});

Deno.test("on a full closed relay, a known and an unknown id get the same server_busy", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "schied-attack-" });
  try {
    const victim = await daemonKeys();
    const filler = await daemonKeys();
    const open = await startTestRelay({ stateDir });
    for (const k of [victim, filler]) await (await connectClient(open.address, k)).close();
    await open.close();

    const r = await startTestRelay({
      stateDir,
      openRegistration: false,
      limits: { maxSessions: 1 },
    });
    const online = await connectClient(r.address, filler);
    try {
      const stranger = await daemonKeys();
      const known = await attempt(r, honest(victim.identity));
      const unknown = await attempt(r, honest(stranger.identity));
      // The busy check comes before the registry lookup, so it cannot reveal registration.
      assertEquals(unknown, known);
      assertEquals(known, {
        closeCode: 4008,
        closeReason: "server_busy",
        messages: 1,
        msg2Length: 49,
      });
      assertEquals(r.counter("logins_total"), 1);
      assertEquals(await r.scrape("registry_ids"), 2);
    } finally {
      await online.close();
      await r.close();
    }
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
