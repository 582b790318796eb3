/**
 * Attack: a man in the middle flips one bit of a handshake message. Every bit of messages 1, 2
 * and 3 is covered by the handshake hash or a MAC, so every single flip must fail the handshake
 * with the one generic error, and no side may end up with keys.
 */
import { assertEquals, assertRejects } from "../_assert.ts";
import { dhFromSecret, randomSecret } from "../../protocol/_crypto.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { LinkInitiator, LinkResponder } from "../../protocol/link_handshake.ts";
import { daemonKeys, flipBit, RawClient, settled, startTestRelay } from "./_helpers.ts";
import { startProxy } from "./_proxy.ts";
import { LinkClient } from "../../daemon/link_client.ts";

const relayStatic = await dhFromSecret(randomSecret());
const daemon = await daemonKeys();

/** A fresh pair of handshake state machines. */
function pair() {
  return {
    init: new LinkInitiator(relayStatic.publicKey, daemon.linkKey, daemon.identity),
    resp: new LinkResponder(relayStatic),
  };
}

function isAuthFailed(e: Error): boolean {
  return e instanceof ProtocolError && e.code === "auth_failed";
}

/** Calls `attempt(byte, bit)` for every bit of a `len`-byte message; all must reject. */
async function everyBit(
  len: number,
  what: string,
  attempt: (byte: number, bit: number) => Promise<unknown>,
): Promise<number> {
  let failures = 0;
  for (let byte = 0; byte < len; byte++) {
    for (let bit = 0; bit < 8; bit++) {
      await assertRejects(
        () => attempt(byte, bit),
        isAuthFailed,
        `${what} with bit ${bit} of byte ${byte} flipped`,
      );
      failures++;
    }
  }
  return failures;
}

Deno.test("control: the untampered handshake succeeds and both sides agree", async () => {
  const { init, resp } = pair();
  const msg2 = await resp.accept(await init.start());
  const { msg3, keys } = await init.finish(msg2);
  const login = await resp.complete(msg3);
  assertEquals(login.identityKey, daemon.identity.publicKey);
  assertEquals(login.handshakeHash, keys.handshakeHash);
});

Deno.test("one flipped bit anywhere in message 1 fails at the relay", async () => {
  const msg1 = await pair().init.start();
  assertEquals(msg1.length, 51); // n = 2, versions [2, 1], e, tag
  const n = await everyBit(msg1.length, "message 1", async (byte, bit) => {
    const { init, resp } = pair();
    await resp.accept(flipBit(await init.start(), byte, bit));
  });
  assertEquals(n, 51 * 8);
});

Deno.test("one flipped bit anywhere in message 2 fails at the daemon (no message 3)", async () => {
  const n = await everyBit(49, "message 2", async (byte, bit) => {
    const { init, resp } = pair();
    const msg2 = await resp.accept(await init.start());
    assertEquals(msg2.length, 49);
    await init.finish(flipBit(msg2, byte, bit));
  });
  assertEquals(n, 49 * 8);
});

Deno.test("one flipped bit anywhere in message 3 fails at the relay (no login)", async () => {
  const n = await everyBit(160, "message 3", async (byte, bit) => {
    const { init, resp } = pair();
    const { msg3 } = await init.finish(await resp.accept(await init.start()));
    assertEquals(msg3.length, 160);
    await resp.complete(flipBit(msg3, byte, bit));
  });
  assertEquals(n, 160 * 8);
});

Deno.test("truncated or extended handshake messages fail", async () => {
  const m1 = await pair().init.start();
  for (const m of [...[0, 1, 2, 33, 49].map((n) => m1.subarray(0, n)), Uint8Array.of(...m1, 0)]) {
    await assertRejects(() => pair().resp.accept(m), isAuthFailed, `msg1 of ${m.length} bytes`);
  }
  for (const cut of [0, 1, 32, 48, 50]) {
    const { init, resp } = pair();
    const msg2 = await resp.accept(await init.start());
    const m = cut <= 48 ? msg2.subarray(0, cut) : Uint8Array.of(...msg2, 0);
    await assertRejects(() => init.finish(m), isAuthFailed, `msg2 of ${m.length} bytes`);
  }
  for (const cut of [0, 48, 64, 159, 161]) {
    const { init, resp } = pair();
    const { msg3 } = await init.finish(await resp.accept(await init.start()));
    const m = cut <= 159 ? msg3.subarray(0, cut) : Uint8Array.of(...msg3, 0);
    await assertRejects(() => resp.complete(m), isAuthFailed, `msg3 of ${m.length} bytes`);
  }
});

Deno.test("end to end: flipped bits in message 1 and 3 close with 4012 auth_failed", async () => {
  const r = await startTestRelay();
  try {
    const cases: [msg: 1 | 3, byte: number, bit: number][] = [
      [1, 0, 0],
      [1, 1, 0],
      [1, 2, 0],
      [1, 33, 7],
      [1, 49, 3],
      [3, 0, 0],
      [3, 47, 1],
      [3, 48, 0],
      [3, 100, 5],
      [3, 159, 7],
    ];
    for (const [which, byte, bit] of cases) {
      const c = await RawClient.open(r.url);
      const keys = await daemonKeys();
      const init = new LinkInitiator(r.key, keys.linkKey, keys.identity);
      const msg1 = await init.start();
      if (which === 1) {
        c.send(flipBit(msg1, byte, bit));
      } else {
        c.send(msg1);
        const { msg3 } = await init.finish(await c.next());
        c.send(flipBit(msg3, byte, bit));
      }
      const closed = await c.ended();
      assertEquals(closed, { code: 4012, reason: "auth_failed" }, `msg${which} ${byte}.${bit}`);
      assertEquals(c.received.length, which === 1 ? 0 : 1, "nothing but message 2 came back");
    }
    await settled(r);
    assertEquals(r.counter("logins_total"), 0);
    assertEquals(r.counter("handshakes_failed_total"), cases.length);
    assertEquals(await r.scrape("registry_ids"), 0);
    assertEquals(r.tapped.length, 5 + 2 * 5, "each connection sent only what the test sent");
  } finally {
    await r.close();
  }
});

Deno.test("end to end: a flipped bit in message 2 stops the daemon before message 3", async () => {
  const r = await startTestRelay();
  try {
    for (const [byte, bit] of [[0, 0], [31, 6], [32, 0], [40, 2], [48, 7]] as const) {
      const proxy = startProxy(r.address, {
        down: (i, b, forward) => forward(i === 0 ? flipBit(b, byte, bit) : b),
      });
      try {
        const keys = await daemonKeys();
        const err = await assertRejects(() =>
          LinkClient.connect({ address: proxy.address, ...keys })
        );
        assertEquals((err as ProtocolError).code, "auth_failed", `msg2 ${byte}.${bit}`);
        await settled(r);
        assertEquals(proxy.up.length, 1, "the daemon sent message 1 only");
        assertEquals(proxy.down.length, 1, "the relay sent message 2 only");
      } finally {
        await proxy.close();
      }
    }
    assertEquals(r.counter("logins_total"), 0);
  } finally {
    await r.close();
  }
});
