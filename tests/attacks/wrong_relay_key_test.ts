/**
 * Attack: the daemon is pointed at a relay whose key is not the one it pinned (a wrong address,
 * a DNS hijack, an impostor). The daemon must stop after message 1 and never reveal its identity:
 * message 1 is encrypted to the pinned key, so only the holder of that key can answer it.
 */
import { assertEquals, assertOk, assertRejects } from "../_assert.ts";
import { LinkClient } from "../../daemon/link_client.ts";
import { formatRelayAddress } from "../../protocol/address.ts";
import { generateDh } from "../../protocol/_crypto.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { waitFor } from "../harness.ts";
import { containsBytes, daemonKeys, settled, startTestRelay } from "./_helpers.ts";

Deno.test("wrong pinned relay key: connect fails and the relay only ever sees message 1", async () => {
  const r = await startTestRelay();
  try {
    const other = await generateDh(); // a valid X25519 key that is not the relay's
    const keys = await daemonKeys();
    const wrongAddress = formatRelayAddress(r.url, other.publicKey);
    const err = await assertRejects(() => LinkClient.connect({ address: wrongAddress, ...keys }));
    assertOk(err instanceof ProtocolError, `a protocol error, got ${err}`);
    assertEquals((err as ProtocolError).code, "auth_failed");
    await settled(r);

    assertEquals(r.tapped.length, 1, "only message 1 reached the relay");
    assertEquals(
      r.tapped[0]!.length,
      3 + 32 + 16,
      "message 1: versions [2, 1], e, tag, nothing more",
    );
    for (const m of r.tapped) {
      assertOk(!containsBytes(m, keys.identity.publicKey), "identity key never sent");
      assertOk(!containsBytes(m, keys.linkKey.publicKey), "static link key never sent");
    }
    assertEquals(r.counter("logins_total"), 0);
    assertEquals(r.counter("handshakes_failed_total"), 1);
    assertEquals(await r.scrape("registry_ids"), 0);

    // Control: the same keys with the right address log in, so the failure was the key.
    const ok = await LinkClient.connect({ address: r.address, ...keys });
    assertEquals(r.counter("logins_total"), 1);
    await ok.close();
  } finally {
    await r.close();
  }
});

Deno.test("impostor relay answering message 1 with a forged message 2 never gets message 3", async () => {
  const received: Uint8Array[] = [];
  let closedCount = 0;
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.binaryType = "arraybuffer";
      socket.onmessage = async (ev) => {
        const bytes = new Uint8Array(ev.data as ArrayBuffer);
        received.push(bytes);
        if (received.length === 1) {
          // The impostor cannot decrypt message 1; it answers with its own ephemeral and a
          // made-up ciphertext of the right length.
          const e = await generateDh();
          const fake = new Uint8Array(32 + 1 + 16);
          fake.set(e.publicKey);
          crypto.getRandomValues(fake.subarray(32));
          socket.send(fake);
        }
      };
      socket.onclose = () => closedCount++;
      return response;
    },
  );
  try {
    const pinned = await generateDh(); // the real relay's key, which the impostor lacks
    const keys = await daemonKeys();
    const address = formatRelayAddress(`ws://127.0.0.1:${server.addr.port}/`, pinned.publicKey);
    const err = await assertRejects(() => LinkClient.connect({ address, ...keys }));
    assertEquals((err as ProtocolError).code, "auth_failed");
    await waitFor(() => closedCount === 1, "the daemon to hang up");
    assertEquals(received.length, 1, "the impostor got message 1 and nothing else");
    assertOk(!containsBytes(received[0]!, keys.identity.publicKey));
    assertOk(!containsBytes(received[0]!, keys.linkKey.publicKey));
  } finally {
    ac.abort();
    await server.finished;
  }
});
