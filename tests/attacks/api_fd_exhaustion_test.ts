/**
 * Attack (issue 7, item 1, the daemon's local API): open hundreds of TCP connections to the API
 * that send half a request head and never finish it. On `Deno.serve` each held a descriptor
 * forever, and once descriptors ran out the accept loop threw `Too many open files` and the
 * daemon exited; with no cap, the connections also crowded out the CLI.
 *
 * What stops it now (api/serve.ts on lib/net): at most API_LIMITS.maxConnections connections;
 * at the cap the oldest _untrusted_ one (no valid token sent on it yet) that is at least
 * API_LIMITS.evictAfterMs old is closed for the newcomer (which waits in the listen queue until
 * then), so the CLI gets in; a connection that sent the token is trusted and never evicted;
 * a request head must be complete within API_LIMITS.headTimeoutMs (10 s).
 *
 * Every connection here comes from 127.0.0.1: the API listens on loopback only, and the CLI and
 * the attacker (another local user, a stuck script) share that source.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { API_LIMITS } from "../../api/serve.ts";
import { startRelayProcess, waitFor } from "../harness.ts";
import { cli, startDaemonProcess, waitOnline } from "../daemon_harness.ts";
import { aliveFlag, latin1Bytes, TcpPeer } from "./_helpers.ts";

/** Half a request head: the request line and one header, never the blank line. */
const HALF_HEAD = latin1Bytes("GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n");

/** Opens one half-head connection; undefined if the connect failed. */
async function halfHead(port: number): Promise<TcpPeer | undefined> {
  try {
    const c = await TcpPeer.connect(port, { keep: 256, timeoutMs: 10_000 });
    await c.write(HALF_HEAD);
    return c;
  } catch {
    return undefined;
  }
}

/**
 * Sends `GET path` with the token on the keep-alive connection `c` and reads the whole answer
 * (which must have a content-length); returns its status and body.
 */
async function request(
  c: TcpPeer,
  port: number,
  path: string,
  token: string,
): Promise<{ status: number; body: string }> {
  c.skip(c.bytes.length);
  const head = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
    `Authorization: Bearer ${token}\r\n\r\n`;
  assertOk(await c.write(latin1Bytes(head)), "the request was written");
  const complete = () => {
    const t = c.text(), end = t.indexOf("\r\n\r\n");
    if (end < 0) return false;
    const len = Number(/\r\ncontent-length: *(\d+)/i.exec(t.slice(0, end))?.[1] ?? NaN);
    return t.length >= end + 4 + len;
  };
  await c.until(() => complete() || c.isEnded, `the answer to ${path}`);
  assertOk(complete(), `a complete answer to ${path}, got ${JSON.stringify(c.text())}`);
  const t = c.text();
  return { status: Number(t.slice(9, 12)), body: t.slice(t.indexOf("\r\n\r\n") + 4) };
}

Deno.test("half-sent heads past the daemon's API cap: the excess is evicted within a second, the CLI and a trusted keep-alive client are served, the rest closed after the head timeout", async () => {
  const relay = await startRelayProcess();
  const d = await startDaemonProcess({ relay: relay.address });
  const alive = aliveFlag(d.exited);
  const port = Number(new URL(d.apiUrl).port);
  const MAX = API_LIMITS.maxConnections!, HEAD_TIMEOUT = API_LIMITS.headTimeoutMs!;
  const peers: TcpPeer[] = [];
  // A client that authenticated on a keep-alive connection before the attack.
  const trusted = await TcpPeer.connect(port, { keep: 1 << 16 });
  try {
    await waitOnline(d); // so that `schied status` exits 0
    const first = await request(trusted, port, "/status", d.token);
    assertEquals(first.status, 200, first.body);
    assertEquals(JSON.parse(first.body).id, d.id);

    const N = MAX + 144;
    const t0 = Date.now();
    // In batches of 128: all at once would overflow the listen backlog, and the kernel's SYN
    // retries (1 s, 3 s, 7 s) would time the connects rather than the daemon.
    for (let i = 0; i < N; i += 128) {
      const batch = Array.from({ length: Math.min(128, N - i) }, () => halfHead(port));
      for (const c of await Promise.all(batch)) if (c) peers.push(c);
    }
    assertEquals(peers.length, N, "every TCP connect succeeded (the kernel accepts them)");
    // The cap counts the trusted connection too: at most MAX - 1 half-heads are held, the rest
    // evicted.
    const evictedNow = () => peers.filter((c) => c.isEnded).length;
    await waitFor(
      () => evictedNow() >= N - (MAX - 1),
      "the connections over the cap to be evicted",
      HEAD_TIMEOUT / 2,
    );
    const evictedAt = Date.now() - t0;
    // (The test's own fetch() may hold a pooled, trusted connection from waitOnline too.)
    const holding = N - evictedNow();
    assertOk(
      holding <= MAX - 1 && holding >= MAX - 3,
      `the half-heads hold the rest of the cap (${holding} of ${MAX})`,
    );
    const evicted = peers.filter((c) => c.isEnded);
    assertOk(
      evicted.every((c) => c.endedAt! - c.connectedAt < HEAD_TIMEOUT / 2),
      "evicted within a second or so, long before the head timeout",
    );
    // Evicted (the oldest untrusted made room), not refused: a refusal would be a 503, and one
    // per newcomer would lock the CLI out as long as the attacker holds the cap.
    assertOk(evicted.every((c) => c.bytes.length === 0), "closed without an answer, not a 503");

    // During the attack (the cap still full of half-heads): the CLI, through the launcher, and
    // an ApiClient call get in, each by evicting the oldest half-head.
    const t1 = Date.now();
    const st = await cli(["status", "--state-dir", d.stateDir]);
    const cliMs = Date.now() - t1;
    assertEquals(st.code, 0, st.stderr);
    assertOk(st.stdout.includes(d.id), st.stdout);
    const t2 = Date.now();
    assertEquals((await d.api.status()).id, d.id);
    const apiMs = Date.now() - t2;
    // The trusted connection was never evicted: the same socket answers again.
    assertOk(!trusted.isEnded, "the trusted keep-alive connection is open");
    const second = await request(trusted, port, "/me", d.token);
    assertEquals(second.status, 200, second.body);
    assertEquals(JSON.parse(second.body).id, d.id);

    // The half-heads still held are closed once the head timeout passes.
    const held = peers.filter((c) => !c.isEnded);
    assertOk(held.length >= MAX - 10, `most of the cap is still held (${held.length})`);
    await waitFor(
      () => held.every((c) => c.isEnded),
      "the held half-heads to time out",
      HEAD_TIMEOUT + 5000,
    );
    const lifetimes = held.map((c) => c.endedAt! - c.connectedAt);
    const [min, max] = [Math.min(...lifetimes), Math.max(...lifetimes)];
    console.log(
      `API half-heads: ${N - holding} of ${N} evicted within ${evictedAt} ms (cap ${MAX}); ` +
        `during the attack \`schied status\` took ${cliMs} ms, an ApiClient call ${apiMs} ms; ` +
        `${held.length} held half-heads closed after ${min}–${max} ms (head timeout ` +
        `${HEAD_TIMEOUT} ms); the trusted keep-alive connection was never evicted`,
    );
    assertOk(min >= HEAD_TIMEOUT - 100, `not closed before the head timeout (${min} ms)`);
    assertOk(max <= HEAD_TIMEOUT + 2000, `closed soon after the head timeout (${max} ms)`);
    assertOk(held.every((c) => c.bytes.length === 0), "a timed-out head gets no answer");
    // Still trusted, still open (its keep-alive timeout is far longer), still served.
    assertOk(!trusted.isEnded, "the trusted connection outlived the attack");
    assertEquals((await request(trusted, port, "/status", d.token)).status, 200);
    assertOk(alive(), "the daemon is alive");
  } finally {
    trusted.destroy();
    for (const c of peers) c.destroy();
    assertEquals([await d.stop(), await relay.stop()], [0, 0]);
  }
});
