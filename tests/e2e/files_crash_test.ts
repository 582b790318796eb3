/**
 * A 20 MiB file from A to B through a relay, real processes: `kill -9` of the receiving daemon
 * mid-transfer, a restart on the same state dir, and the transfer completes with the right
 * SHA-256; the same with the sending daemon killed. Waits on conditions only; the daemons are
 * stopped by their own handles.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import {
  collectEvents,
  type DaemonProcess,
  startDaemonProcess,
  waitOnline,
} from "../daemon_harness.ts";
import { startRelayProcess, waitFor } from "../harness.ts";
import { download, fileAt, sha256Hex, testBytes, upload, waitFileState } from "./_files.ts";

const SIZE = 20 * 1024 * 1024;

async function crashMidTransfer(victim: "receiver" | "sender"): Promise<void> {
  const relay = await startRelayProcess();
  const live: DaemonProcess[] = [];
  try {
    let a = await startDaemonProcess({ relay: relay.address });
    let b = await startDaemonProcess({ relay: relay.address });
    live.push(a, b);
    await Promise.all([waitOnline(a), waitOnline(b)]);
    await a.api.addContact({ id: b.id });
    await b.api.addContact({ id: a.id });
    const bytes = testBytes(SIZE, victim === "receiver" ? 7 : 8);
    const f = await upload(a, b.id, bytes, "big.bin");
    assertEquals([f.size, f.sha256], [SIZE, sha256Hex(bytes)]);
    // Mid-transfer: B has stored a quarter of it, and not all.
    const mid = await waitFor(
      async () => {
        const at = await fileAt(b, f.id).catch(() => undefined);
        return at && at.bytes >= SIZE / 4 ? at : undefined;
      },
      "a quarter of the file at B",
      60_000,
    );
    assertOk(mid.bytes < SIZE, `killed before the end (${mid.bytes} bytes)`);
    const killed = victim === "receiver" ? b : a;
    killed.kill("SIGKILL");
    assertEquals((await killed.exited).signal, "SIGKILL");
    live.splice(live.indexOf(killed), 1);
    const again = await startDaemonProcess({ relay: relay.address, stateDir: killed.stateDir });
    live.push(again);
    await waitOnline(again);
    if (victim === "receiver") b = again;
    else a = again;
    await waitFileState(b, f.id, "complete", 120_000);
    await waitFileState(a, f.id, "complete", 60_000);
    const got = await download(b, f.id);
    assertEquals([got.length, sha256Hex(got)], [SIZE, sha256Hex(bytes)]);
    // Resumed, not restarted: B's progress (its journal, across the crash) never went back.
    const ev = collectEvents(b, 0);
    try {
      await waitFor(
        () => ev.events.some((e) => e.type === "file" && e.data.phase === "complete"),
        "B's journal up to the completion",
      );
      const seen = ev.events.flatMap((e) =>
        e.type === "file" && e.data.file.id === f.id ? [e.data.file.bytes] : []
      );
      assertOk(seen.every((n, i) => i === 0 || n >= seen[i - 1]!), `bytes went back: ${seen}`);
      assertOk(seen.some((n) => n >= mid.bytes && n < SIZE), "progress from before the crash on");
    } finally {
      ev.stop();
    }
    console.log(`${victim} killed at ${(mid.bytes / 1048576).toFixed(1)} MiB; completed intact`);
  } finally {
    const codes = [];
    for (const d of live) codes.push(await d.stop());
    codes.push(await relay.stop());
    assertEquals(codes.every((c) => c === 0), true, `exit codes ${codes}`);
  }
}

Deno.test("20 MiB A→B: kill -9 of the receiving daemon mid-transfer, restart, complete, SHA-256 matches", async () => {
  await crashMidTransfer("receiver");
});

Deno.test("20 MiB A→B: kill -9 of the sending daemon mid-transfer, restart, complete, SHA-256 matches", async () => {
  await crashMidTransfer("sender");
});
