import { assertEquals, assertOk } from "../_assert.ts";
import { waitFor } from "../harness.ts";
import { cli, collectEvents, startPair } from "../daemon_harness.ts";

Deno.test("e2e: echo hi | schied send B shows on B's /events, and A's stream shows delivered", async () => {
  const { a, b, done } = await startPair();
  const evA = collectEvents(a);
  const evB = collectEvents(b);
  try {
    const r = await cli(["send", b.id, "--state-dir", a.stateDir], { stdin: "hi\n" });
    assertEquals(r.code, 0, r.stderr);
    const msgId = r.stdout.trim();
    const got = await waitFor(
      () => evB.events.find((e) => e.type === "message"),
      "B's message event",
    );
    assertEquals(got.data.text, "hi");
    assertEquals(got.data.from, a.id);
    assertEquals(got.data.id, msgId);
    await waitFor(
      () =>
        evA.events.find((e) =>
          e.type === "status" && e.data.id === msgId && e.data.status === "delivered"
        ),
      "A's delivered status",
    );
    const seen = evA.events.flatMap((e) =>
      e.type === "status" && e.data.id === msgId ? [e.data.status] : []
    );
    assertEquals(seen, ["queued", "sent", "delivered"]);
  } finally {
    evA.stop();
    evB.stop();
    await done();
  }
});

Deno.test("e2e: POST /send with text/plain (curl style) and with JSON", async () => {
  const { a, b, done } = await startPair();
  try {
    const auth = (await Deno.readTextFile(`${a.stateDir}/api-auth-header`)).trim();
    assertOk(auth.startsWith("Authorization: Bearer "));
    const [hk, hv] = auth.split(": ", 2) as [string, string];
    // What `curl -H @api-auth-header -d 'hi there' 'localhost:PORT/send?to=ID'` sends.
    const r1 = await fetch(`${a.apiUrl}/send?to=${b.id}`, {
      method: "POST",
      headers: { [hk]: hv, "content-type": "application/x-www-form-urlencoded" },
      body: "hi there & more=1",
    });
    assertEquals(r1.status, 202);
    const j1 = await r1.json();
    const r2 = await fetch(`${a.apiUrl}/send`, {
      method: "POST",
      headers: { [hk]: hv, "content-type": "application/json" },
      body: JSON.stringify({ to: b.id, text: "json hello", id: "key-1" }),
    });
    assertEquals(r2.status, 202);
    const j2 = await r2.json();
    assertEquals(j2.status, "queued");
    await waitFor(async () => (await b.api.messages({ with: a.id })).length === 2, "both at B");
    const texts = (await b.api.messages({ with: a.id })).map((m) => m.text);
    assertEquals(texts, ["hi there & more=1", "json hello"]);
    await waitFor(async () => (await a.api.message(j1.id)).status === "delivered", "delivered 1");
    await waitFor(async () => (await a.api.message(j2.id)).status === "delivered", "delivered 2");
  } finally {
    await done();
  }
});

Deno.test("e2e: 1,000 messages each way, interleaved, arrive in order, none lost or duplicated", async () => {
  const { a, b, done } = await startPair();
  try {
    const N = 1000;
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) {
      sends.push(a.api.send({ to: b.id, text: `a→b ${i}` }));
      sends.push(b.api.send({ to: a.id, text: `b→a ${i}` }));
      if (sends.length >= 64) await Promise.all(sends.splice(0));
    }
    await Promise.all(sends);
    await waitFor(
      async () =>
        (await b.api.status()).outbox.size === 0 && (await a.api.status()).outbox.size === 0,
      "both outboxes empty",
      60_000,
    );
    for (const [to, from] of [[b, a], [a, b]] as const) {
      // The order the sender accepted them in (its sequence numbers)…
      const all = [];
      for (
        let since = 0, page;
        (page = await from.api.messages({ with: to.id, since, limit: 1000 })).length > 0;
      ) {
        all.push(...page);
        since = page[page.length - 1]!.event_id;
      }
      const sent = all.filter((m) => m.direction === "out").sort((x, y) => x.seq - y.seq);
      assertEquals(sent.length, N);
      assertOk(sent.every((m) => m.status === "delivered"), "every one delivered");
      // …is the order the receiver's journal has them in, each once.
      const got: string[] = [];
      for await (const e of to.api.events({ since: 0, signal: AbortSignal.timeout(10_000) })) {
        if (e.type === "message" && e.data.from === from.id) got.push(String(e.data.id));
        if (got.length === N) break;
      }
      assertEquals(got, sent.map((m) => m.id), "in order, once each");
      assertEquals(new Set(sent.map((m) => m.text)).size, N, "no text lost");
    }
    const sa = await a.api.status();
    assertEquals(sa.outbox.size, 0);
  } finally {
    await done();
  }
});
