/**
 * Attack: enumerate the registry and watch the relay. `GET /v1/keys/{id}` told anyone, as fast
 * as they could ask, whether an id was registered and on which day, and `/metrics` (sessions
 * online, logins, registrations…) was served to the world on the public port.
 *
 * What stops it now (relay/server.ts): key lookups are rate limited per IP
 * (--key-lookups-per-ip N per second, burst 2N; beyond: HTTP 429 `rate_limited`) and answer
 * `{id, public_key}` only, no registration date; `/metrics` is not served on the public listener
 * (404) but on its own, loopback by default (--metrics-listen HOST:PORT, or off).
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { connectClient, startRelayProcess, waitFor } from "../harness.ts";
import { fromBase64Url } from "../../protocol/bytes.ts";
import { formatId, idMatchesKey } from "../../protocol/identity.ts";
import { aliveFlag, ATTACKER } from "./_helpers.ts";

const RATE = 5; // burst 10

/** A version-8 UUID that is surely not registered. */
function randomId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  return formatId(b);
}

Deno.test("key lookups: rate limited per IP (429 rate_limited), {id, public_key} only; an attacker's 429s do not stop 127.0.0.1", async () => {
  const relay = await startRelayProcess({ args: ["--key-lookups-per-ip", String(RATE)] });
  const alive = aliveFlag(relay.exited);
  const attacker = Deno.createHttpClient({ localAddress: ATTACKER });
  try {
    const c = await connectClient(relay.address);
    const id = formatId(c.id);
    await c.close();

    // The registered id: exactly id and key, and the key hashes to the id.
    const res = await fetch(`${relay.http}/v1/keys/${id}`);
    assertEquals(res.status, 200);
    assertEquals(res.headers.get("cache-control"), "no-store");
    const body = await res.json();
    assertEquals(Object.keys(body).sort(), ["id", "public_key"], "no registration date");
    assertEquals(body.id, id);
    assertOk(idMatchesKey(c.id, fromBase64Url(body.public_key)), "the key hashes to the id");

    // The attacker enumerates ids from 127.0.0.2 as fast as it can.
    const statuses: number[] = [];
    let tooMany: unknown;
    const t0 = Date.now();
    for (let i = 0; i < 40; i++) {
      const r = await fetch(`${relay.http}/v1/keys/${i === 0 ? id : randomId()}`, {
        client: attacker,
      });
      statuses.push(r.status);
      if (r.status === 429) tooMany = await r.json();
      else await r.body?.cancel();
    }
    const elapsedS = (Date.now() - t0) / 1000;
    const answered = statuses.filter((s) => s !== 429).length;
    console.log(
      `key lookups: ${answered} of 40 answered in ${(elapsedS * 1000).toFixed(0)} ms, ` +
        `${40 - answered} refused with 429`,
    );
    assertEquals(statuses[0], 200);
    assertOk(statuses.slice(1, 2 * RATE).every((s) => s === 404), "the burst is answered");
    assertOk(
      answered <= 2 * RATE + Math.ceil(RATE * elapsedS) + 1,
      `at most the burst and the refill (${answered} in ${elapsedS} s)`,
    );
    assertOk(statuses.filter((s) => s === 429).length >= 20, "most are refused");
    assertEquals(tooMany, {
      error: { code: "rate_limited", message: "Too many key lookups from this address", http: 429 },
    });

    // 127.0.0.1 has its own budget (one lookup spent above): its lookups are answered while
    // the attacker is refused.
    for (let i = 0; i < 2 * RATE - 1; i++) {
      const r = await fetch(`${relay.http}/v1/keys/${id}`);
      assertEquals(r.status, 200, `127.0.0.1 lookup ${i}`);
      await r.body?.cancel();
    }
    // It is a rate, not a ban: the attacker's bucket refills.
    await waitFor(
      async () => {
        const r = await fetch(`${relay.http}/v1/keys/${id}`, { client: attacker });
        await r.body?.cancel();
        return r.status === 200;
      },
      "the attacker's bucket to refill",
      3000,
    );

    // Malformed ids are refused without a registry lookup.
    const bad = await fetch(`${relay.http}/v1/keys/not-an-id`);
    assertEquals(bad.status, 400);
    assertEquals((await bad.json()).error.code, "bad_id");
    assertOk(alive(), "the relay is alive");
  } finally {
    attacker.close();
    assertEquals(await relay.stop(), 0);
  }
});

Deno.test("metrics: 404 on the public listener, served on the metrics listener (loopback), and off with --metrics-listen off", async () => {
  let relay = await startRelayProcess();
  const attacker = Deno.createHttpClient({ localAddress: ATTACKER });
  try {
    for (const client of [undefined, attacker]) {
      const pub = await fetch(`${relay.http}/metrics`, client ? { client } : {});
      assertEquals(pub.status, 404, "not on the public listener");
      assertEquals((await pub.json()).error.code, "not_found");
    }
    assertOk(relay.metrics.startsWith("http://127.0.0.1:"), relay.metrics);
    assertOk(relay.metrics !== relay.http, "a listener of its own");
    const m = await fetch(`${relay.metrics}/metrics`);
    assertEquals(m.status, 200);
    assertEquals(m.headers.get("content-type"), "text/plain; version=0.0.4");
    const text = await m.text();
    for (const name of ["sessions_online", "handshakes_pending", "connections_open"]) {
      assertOk(new RegExp(`^schied_${name} \\d+$`, "m").test(text), `schied_${name}`);
    }
    assertOk(!/127\.0\.0\.|[0-9a-f]{8}-[0-9a-f]{4}-/.test(text), "no IP, no id");
    // Only /metrics (and /healthz) there: the key API stays on the public listener.
    assertEquals(
      await fetch(`${relay.metrics}/v1/keys/${randomId()}`).then(async (r) => {
        await r.body?.cancel();
        return r.status;
      }),
      404,
    );
  } finally {
    assertEquals(await relay.stop(), 0);
  }

  relay = await startRelayProcess({ args: ["--metrics-listen", "off"] });
  try {
    const listening = JSON.parse(relay.log.find((l) => l.includes('"relay_listening"'))!);
    assertEquals(listening.metrics, "off");
    const pub = await fetch(`${relay.http}/metrics`);
    assertEquals(pub.status, 404);
    await pub.body?.cancel();
    const health = await fetch(`${relay.http}/healthz`);
    assertEquals(await health.json(), { ok: true });
  } finally {
    attacker.close();
    assertEquals(await relay.stop(), 0);
  }
});
