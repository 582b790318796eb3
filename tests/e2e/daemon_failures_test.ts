/**
 * Failures that speak (issue 9, item 4): a daemon with a wrong relay key, or an unreachable
 * relay, says so on stderr (text or JSON Lines), `schied status` shows the last error with a hint
 * and exits 5, and an authentication failure backs off far longer than a network error.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { startRelayProcess, waitFor } from "../harness.ts";
import { cli, startDaemonProcess, waitOnline } from "../daemon_harness.ts";
import { AUTH_BACKOFF, BACKOFF } from "../../daemon/relay_client.ts";

/** The address with one character of its key changed: the same relay, another key. */
function wrongKey(address: string): string {
  const [url, key] = address.split("#") as [string, string];
  return `${url}#${key.slice(0, 10)}${key[10] === "A" ? "B" : "A"}${key.slice(11)}`;
}

Deno.test("daemon: a wrong relay key is an auth failure on stderr with a hint, in status (exit 5), and backs off long", async () => {
  const relay = await startRelayProcess();
  const d = await startDaemonProcess({ relay: wrongKey(relay.address) });
  try {
    await waitFor(
      () => d.log.some((l) => l.includes("authentication with the relay failed")),
      "the auth failure on stderr",
    );
    assertOk(d.log.some((l) => l.includes("started: id")), d.log.join("\n"));
    assertOk(d.log.some((l) => l.includes("connecting to the relay")), d.log.join("\n"));
    assertOk(
      d.log.some((l) => l.startsWith("schied: hint: the relay's key does not match the address")),
      d.log.join("\n"),
    );
    const st = await cli(["status", "--state-dir", d.stateDir]);
    assertEquals(st.code, 5, st.stderr);
    assertOk(/error +.*auth_failed/.test(st.stdout), st.stdout);
    assertOk(st.stdout.includes("hint      the relay's key does not match"), st.stdout);
    const s = await d.api.status();
    assertEquals(s.relay.last_error?.code, "auth_failed");
    const ev = [];
    for await (const e of d.api.events({ since: 0, signal: AbortSignal.timeout(500) })) {
      ev.push(e);
    }
    const off = ev.find((e) => e.type === "relay" && e.data.state === "offline");
    assertOk(off && off.type === "relay", "an offline event");
    const retry = off.data.retry_in_ms!;
    assertOk(
      retry >= AUTH_BACKOFF.initialMs * (1 - AUTH_BACKOFF.jitter),
      `an auth failure waits ≥ ${AUTH_BACKOFF.initialMs * 0.8} ms, got ${retry}`,
    );
  } finally {
    await d.stop();
    await relay.stop();
  }
});

Deno.test("daemon: an unreachable relay is logged as offline (JSON Lines) with a short retry; online once it is reachable", async () => {
  // A port with nothing behind it: taken and released.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const relay = await startRelayProcess();
  const key = relay.address.split("#")[1]!;
  const d = await startDaemonProcess({
    relay: `ws://127.0.0.1:${port}/#${key}`,
    args: ["--log-format", "json"],
  });
  try {
    await waitFor(() => d.log.some((x) => x.includes('"event":"offline"')), "an offline line");
    const recs = d.log.filter((x) => x.startsWith("{")).map((x) => JSON.parse(x));
    assertEquals(recs.length, d.log.length, `every stderr line is JSON: ${d.log.join("\n")}`);
    const off = recs.find((r) => r.event === "offline");
    assertOk(/Cannot reach relay/.test(off.reason), off.reason);
    assertOk(
      off.retry_in_ms <= BACKOFF.initialMs * 1.5,
      `a network error retries soon: ${off.retry_in_ms}`,
    );
    const st = await cli(["status", "--state-dir", d.stateDir]);
    assertEquals(st.code, 5);
    assertOk(st.stdout.includes("Cannot reach relay"), st.stdout);
  } finally {
    await d.stop();
  }
  // The same state dir pointed at the real relay: online, logged.
  const d2 = await startDaemonProcess({ relay: relay.address, stateDir: d.stateDir });
  try {
    await waitOnline(d2);
    await waitFor(() => d2.log.some((x) => x.includes("online: logged in")), "the online line");
    const st = await cli(["status", "--state-dir", d2.stateDir]);
    assertEquals(st.code, 0, st.stdout);
    assertOk(!st.stdout.includes("error "), st.stdout);
  } finally {
    assertEquals(await d2.stop(), 0);
    const lines = d2.log.join("\n");
    assertOk(lines.includes("stopped"), lines);
    await relay.stop();
  }
});
