import { DatabaseSync } from "node:sqlite";
import { assertEquals, assertOk } from "../_assert.ts";
import { connectClient, newKeys, startRelayProcess, waitFor } from "../harness.ts";
import { fromBase64Url } from "../../protocol/bytes.ts";
import { formatId, idMatchesKey } from "../../protocol/identity.ts";
import type { LinkClient } from "../../daemon/link_client.ts";

const FAST = [
  "--handshakes-per-ip",
  "100000",
  "--handshake-burst",
  "100000",
  "--max-pending-handshakes",
  "1000",
  // Every client of this test comes from 127.0.0.1: lift the per-IP caps.
  "--max-pending-handshakes-per-ip",
  "1000",
  "--max-sessions-per-ip",
  "1000",
  "--max-connections-per-ip",
  "2000",
  "--key-lookups-per-ip",
  "1000",
];

async function registryIds(http: string): Promise<number> {
  const m = await (await fetch(`${http}/metrics`)).text();
  return Number(/^schied_registry_ids (\d+)$/m.exec(m)?.[1]);
}

Deno.test("registry: 200 concurrent first registrations → 200 rows, each once; intact after restart", async () => {
  let relay = await startRelayProcess({ args: FAST });
  const firstKeys = await newKeys();
  const clients: LinkClient[] = await Promise.all(
    Array.from({ length: 200 }, (_, i) => connectClient(relay.address, i === 0 ? firstKeys : {})),
  );
  try {
    assertEquals(clients.filter((c) => c.welcome.registered).length, 200);
    assertEquals(new Set(clients.map((c) => formatId(c.id))).size, 200);
    assertEquals(await registryIds(relay.metrics), 200);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  assertEquals(await relay.stop(), 0);
  relay = await startRelayProcess({ stateDir: relay.stateDir, args: FAST });
  try {
    assertEquals(await registryIds(relay.metrics), 200);
    for (const c of clients.slice(0, 20)) {
      const res = await fetch(`${relay.http}/v1/keys/${formatId(c.id)}`);
      assertEquals(res.status, 200);
      const body = await res.json();
      assertOk(idMatchesKey(c.id, fromBase64Url(body.public_key)), "key hashes to the id");
      assertEquals(Object.keys(body).sort(), ["id", "public_key"], "no registration date");
    }
    // Logging in again with a registered identity is "known", not a new registration.
    const again = await connectClient(relay.address, firstKeys);
    assertEquals(again.welcome.registered, false);
    assertEquals(formatId(again.id), formatId(clients[0]!.id));
    await again.close();
    assertEquals(await registryIds(relay.metrics), 200);
  } finally {
    assertEquals(await relay.stop(), 0);
  }
});

Deno.test("registry: kill -9 during registrations → database intact, every acknowledged id present", async () => {
  const relay = await startRelayProcess({ args: FAST });
  const acked: Uint8Array[] = [];
  let stop = false;
  const worker = async () => {
    for (let i = 0; i < 100 && !stop; i++) {
      try {
        const c = await connectClient(relay.address, { timeoutMs: 5000 });
        acked.push(c.id); // WELCOME came: the registration was acknowledged
        void c.close().catch(() => {});
      } catch {
        return; // relay is gone
      }
    }
  };
  const workers = Array.from({ length: 16 }, worker);
  await waitFor(() => acked.length >= 60, "60 acknowledged registrations", 30_000);
  relay.kill("SIGKILL");
  stop = true;
  await relay.exited;
  await Promise.all(workers);
  const db = new DatabaseSync(`${relay.stateDir}/registry.db`);
  try {
    assertEquals({ ...db.prepare("PRAGMA integrity_check").get() }, { integrity_check: "ok" });
    const has = db.prepare("SELECT 1 AS x FROM identities WHERE id = ?");
    const missing = acked.filter((id) => !has.get(id));
    assertEquals(missing.length, 0, `${missing.length} acknowledged ids missing`);
  } finally {
    db.close();
  }
  const again = await startRelayProcess({ stateDir: relay.stateDir, args: FAST });
  try {
    assertOk((await registryIds(again.metrics)) >= acked.length);
  } finally {
    assertEquals(await again.stop(), 0);
  }
});
