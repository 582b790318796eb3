import { report, Scene, sendStream, verify } from "./_chaos.ts";

const N = 5000;
const BACK = 1000;

Deno.test("chaos (a): kill -9 the relay every ~2 s during the stream and restart it", async () => {
  const t0 = performance.now();
  const s = await Scene.start();
  let kills = 0;
  let streaming = true;
  const killer = (async () => {
    // Bounded: at most 8 kills, one every ~2 s, while the stream is still being delivered.
    while (streaming && kills < 8) {
      const until = Date.now() + 2000;
      while (streaming && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      if (!streaming) break;
      await s.restartRelay();
      kills++;
    }
  })();
  try {
    await Promise.all([
      sendStream(() => s.a.api, s.b.id, "a", N),
      sendStream(() => s.b.api, s.a.id, "b", BACK),
    ]);
    const figs = [
      await verify(() => s.a, () => s.b, "a", N),
      await verify(() => s.b, () => s.a, "b", BACK),
    ];
    streaming = false;
    await killer;
    report(`(a) relay kill -9 ×${kills}`, figs, s, t0);
  } finally {
    streaming = false;
    await killer;
    await s.stop();
  }
});

Deno.test("chaos (e): SIGSTOP the relay for 3 s, then SIGCONT", async () => {
  const t0 = performance.now();
  const s = await Scene.start();
  try {
    await Promise.all([
      sendStream(() => s.a.api, s.b.id, "a", N, {
        onAccepted: async (n) => {
          if (n !== N / 2) return;
          s.relay.kill("SIGSTOP");
          const until = Date.now() + 3000;
          // The daemons keep accepting while the relay is frozen (their outboxes are local).
          while (Date.now() < until) await new Promise((r) => setTimeout(r, 50));
          s.relay.kill("SIGCONT");
          s.recoveries.push(performance.now());
        },
      }),
      sendStream(() => s.b.api, s.a.id, "b", BACK),
    ]);
    const figs = [
      await verify(() => s.a, () => s.b, "a", N),
      await verify(() => s.b, () => s.a, "b", BACK),
    ];
    report("(e) relay SIGSTOP 3 s", figs, s, t0);
  } finally {
    await s.stop();
  }
});
