import { assertEquals, assertOk } from "../_assert.ts";
import { waitFor } from "../harness.ts";
import { startDaemonProcess, waitOnline } from "../daemon_harness.ts";
import { report, Scene, sendStream, verify } from "./_chaos.ts";

const N = 5000;
const BACK = 1000;

Deno.test("chaos (b): kill -9 daemon B in the middle of the stream and restart it", async () => {
  const t0 = performance.now();
  const s = await Scene.start();
  try {
    let killed: Promise<void> | undefined;
    await Promise.all([
      sendStream(() => s.a.api, s.b.id, "a", N, {
        onAccepted: (n) => {
          if (n === N / 2) killed = s.restartDaemon("b");
        },
      }),
      sendStream(() => s.b.api, s.a.id, "b", BACK),
    ]);
    await killed;
    const figs = [
      await verify(() => s.a, () => s.b, "a", N),
      await verify(() => s.b, () => s.a, "b", BACK),
    ];
    report("(b) daemon B kill -9", figs, s, t0);
  } finally {
    await s.stop();
  }
});

Deno.test("chaos (c): kill -9 daemon A after some 202s and restart it", async () => {
  const t0 = performance.now();
  const s = await Scene.start();
  try {
    let killed: Promise<void> | undefined;
    await Promise.all([
      sendStream(() => s.a.api, s.b.id, "a", N, {
        onAccepted: (n) => {
          if (n === 2000) killed = s.restartDaemon("a");
        },
      }),
      sendStream(() => s.b.api, s.a.id, "b", BACK),
    ]);
    await killed;
    const figs = [
      await verify(() => s.a, () => s.b, "a", N),
      await verify(() => s.b, () => s.a, "b", BACK),
    ];
    report("(c) daemon A kill -9", figs, s, t0);
  } finally {
    await s.stop();
  }
});

Deno.test("chaos (d): B offline for the first half of the stream", async () => {
  const t0 = performance.now();
  const s = await Scene.start({ startB: false });
  try {
    await sendStream(() => s.a.api, s.b.id, "a", N / 2);
    const pending = (await s.a.api.status()).outbox;
    assertEquals(pending.size, N / 2, "all queued while B is away");
    assertOk(pending.oldest !== null);
    s.b = await startDaemonProcess({ stateDir: s.b.stateDir });
    await waitOnline(s.b);
    s.recoveries.push(performance.now());
    await Promise.all([
      sendStream(() => s.a.api, s.b.id, "a2", N / 2),
      sendStream(() => s.b.api, s.a.id, "b", BACK),
    ]);
    const figs = [
      await verify(() => s.a, () => s.b, "a", N / 2),
      await verify(() => s.a, () => s.b, "a2", N / 2),
      await verify(() => s.b, () => s.a, "b", BACK),
    ];
    report("(d) B offline first half", figs, s, t0);
  } finally {
    await s.stop();
  }
});

Deno.test("chaos (f): an /events consumer that reconnects 10 times sees every event once", async () => {
  const t0 = performance.now();
  const s = await Scene.start();
  try {
    const seen: number[] = [];
    const texts: string[] = [];
    let reconnects = 0;
    let last = 0;
    const consumer = (async () => {
      // Reads B's /events, drops the connection after every ~N/10 messages, resumes from the last id.
      const deadline = Date.now() + 90_000;
      while (texts.length < N && Date.now() < deadline) {
        const ac = new AbortController();
        let got = 0;
        try {
          for await (const e of s.b.api.events({ since: last, signal: ac.signal })) {
            seen.push(e.id);
            last = e.id;
            if (e.type === "message") {
              texts.push(String(e.data.text));
              if (++got >= N / 10 && reconnects < 10) {
                reconnects++;
                ac.abort();
              }
            }
            if (texts.length >= N) break;
          }
        } catch {
          // dropped on purpose (or the daemon is busy): resume
        }
      }
    })();
    await sendStream(() => s.a.api, s.b.id, "a", N);
    const figs = [await verify(() => s.a, () => s.b, "a", N)];
    await waitFor(() => texts.length >= N, "the consumer to see every message", 60_000);
    await consumer;
    assertEquals(new Set(seen).size, seen.length, "no event twice");
    assertOk(seen.every((id, i) => i === 0 || id > seen[i - 1]!), "event ids only grow");
    assertEquals(texts.length, N);
    assertEquals(new Set(texts).size, N, "every message once");
    assertOk(reconnects >= 10, `reconnected ${reconnects} times`);
    report(`(f) consumer reconnects ×${reconnects}`, figs, s, t0);
  } finally {
    await s.stop();
  }
});
