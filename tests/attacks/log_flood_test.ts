/**
 * Attack: flood the relay's log. Every refused handshake used to write one warning line: 5,213
 * lines in 10 s from one IP, enough to fill a disk or drown every other event.
 *
 * What stops it now (relay/log.ts RefusalLog): refusals are counted, and each kind is logged as
 * one `{"event":"refused","kind":…,"count":N}` line per 10 s interval, the first of a kind at
 * once; the lines carry no IP (unless --log-ips).
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { connectClient, startRelayProcess, waitFor } from "../harness.ts";
import { aliveFlag, ATTACKER, latin1Bytes, RawClient, TcpPeer, upgradeHead } from "./_helpers.ts";
import { type LogFields, RefusalLog } from "../../relay/log.ts";

Deno.test("500 refused handshakes from one IP write a handful of log lines whose counts add up, with no IP", async () => {
  const relay = await startRelayProcess({
    args: [
      "--handshakes-per-ip",
      "1",
      "--handshake-burst",
      "1",
      // The attacker's one stalled handshake fills its per-IP quota: no upgrade can succeed.
      "--max-pending-handshakes-per-ip",
      "1",
      "--handshake-timeout-ms",
      "60000",
    ],
  });
  const alive = aliveFlag(relay.exited);
  const port = Number(new URL(relay.http).port);
  const url = `ws://127.0.0.1:${port}/`;
  const linesBefore = relay.log.length;
  const stalled = await RawClient.open(url, { localAddress: ATTACKER });
  let peer: TcpPeer | undefined;
  try {
    // 500 upgrade requests on one keep-alive connection, 50 at a time (pipelined).
    const N = 500, BATCH = 50;
    peer = await TcpPeer.connect(port, { localAddress: ATTACKER, keep: 1 << 20 });
    const p = peer;
    const statuses = () => [...p.text().matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => m[1]);
    const t0 = Date.now();
    for (let sent = 0; sent < N; sent += BATCH) {
      await p.write(latin1Bytes(upgradeHead(port).repeat(BATCH)));
      await p.until(() => statuses().length >= sent + BATCH || p.isEnded, "the answers", 5000);
    }
    const floodMs = Date.now() - t0;
    const got = statuses();
    assertEquals(got.length, N);
    assertOk(got.every((s) => s === "429"), "every one refused before the upgrade");
    assertOk(!p.isEnded, "on one keep-alive connection");

    // Meanwhile 127.0.0.1 logs in.
    const legit = await connectClient(relay.address);
    await legit.close();
    assertOk(alive(), "the relay is alive");

    // Stopping flushes the counts of the current interval.
    stalled.ws.terminate();
    assertEquals(await relay.stop(), 0);
    await waitFor(() => relay.log.some((l) => l.includes('"relay_stopped"')), "the last line");
    const lines = relay.log.slice(linesBefore);
    const refused = lines.map((l) => JSON.parse(l)).filter((r) => r.event === "refused");
    const kinds = ["handshake_rate_limited", "handshakes_per_ip"];
    const flood = refused.filter((r) => kinds.includes(r.kind));
    const total = flood.reduce((n, r) => n + r.count, 0);
    console.log(
      `log flood: ${N} refusals in ${floodMs} ms → ${lines.length} log lines in all, ` +
        `${flood.length} for the flood: ${JSON.stringify(flood.map((r) => [r.kind, r.count]))}`,
    );
    assertEquals(total, N, "the counts add up to the refusals");
    // The first of each kind at once, the rest summed per 10 s interval (at most one boundary
    // crossed here) and at the stop.
    assertOk(flood.length <= 2 * kinds.length + 2, `${flood.length} lines for the flood`);
    assertOk(lines.length <= 12, `${lines.length} lines in all`);
    assertOk(lines.every((l) => !/127\.0\.0\.\d/.test(l)), "no IP in the log");
    for (const r of refused) {
      assertEquals(
        Object.keys(r).filter((k) =>
          !["t", "level", "event", "kind", "count", "interval_s"]
            .includes(k)
        ),
        [],
        "only counts",
      );
    }
  } finally {
    peer?.destroy();
    stalled.ws.terminate();
    await relay.stop();
  }
});

Deno.test("RefusalLog: one line per kind per interval, the first at once, counts summed", async () => {
  const lines: { event: string; kind?: string; count?: number }[] = [];
  const log = {
    info: () => {},
    warn: (event: string, f: LogFields = {}) =>
      lines.push({ event, kind: String(f.kind), count: Number(f.count) }),
  };
  const r = new RefusalLog(log, 100);
  try {
    r.count("a");
    assertEquals(lines, [{ event: "refused", kind: "a", count: 1 }], "the first at once");
    for (let i = 0; i < 999; i++) r.count("a");
    for (let i = 0; i < 10; i++) r.count("b");
    assertEquals(lines.length, 2, "a's rest waits for the interval; b's first is at once");
    await waitFor(() => lines.length >= 4, "the interval's lines", 2000);
    assertEquals(lines.slice(2).sort((x, y) => x.kind!.localeCompare(y.kind!)), [
      { event: "refused", kind: "a", count: 999 },
      { event: "refused", kind: "b", count: 9 },
    ]);
    // Later refusals of a are summed into a later interval's line.
    const n = lines.length;
    await waitFor(
      () => {
        r.count("a");
        return lines.length > n;
      },
      "a's next line",
      2000,
    );
  } finally {
    r.stop();
  }
  const a = lines.filter((l) => l.kind === "a").reduce((n, l) => n + l.count!, 0);
  assertOk(a >= 1001, `a's counts add up (${a})`);
});
