import { assertEquals, assertOk } from "../_assert.ts";
import {
  AUTH_HINT,
  COUNTS_MS,
  formatLog,
  LifecycleLog,
  REPEAT_MS,
} from "../../daemon/lifecycle_log.ts";
import type { JournalEvent } from "../../daemon/service.ts";

function world(format: "text" | "json" = "text") {
  let now = Date.UTC(2026, 11, 1, 12, 0, 0);
  const lines: string[] = [];
  const log = new LifecycleLog((l) => lines.push(l), format, () => now);
  let id = 0;
  const ev = (e: Omit<JournalEvent, "id">) => log.onEvent({ id: ++id, ...e } as JournalEvent);
  return { log, lines, ev, advance: (ms: number) => void (now += ms) };
}

Deno.test("lifecycle log: connecting, online, offline with the reason and the next try", () => {
  const w = world();
  w.ev({ type: "relay", data: { state: "connecting" } });
  w.ev({ type: "relay", data: { state: "online" } });
  w.ev({
    type: "relay",
    data: { state: "offline", reason: "closed (1006)", code: null, retry_in_ms: 1200 },
  });
  assertEquals(w.lines, [
    "schied: 2026-12-01 12:00:00 connecting to the relay…",
    "schied: 2026-12-01 12:00:00 online: logged in to the relay",
    "schied: 2026-12-01 12:00:00 warn: offline: closed (1006); next try in 1.2 s",
  ]);
});

Deno.test("lifecycle log: an auth failure at login is an error with the hint; repeats are bounded", () => {
  const w = world();
  const fail = () =>
    w.ev({
      type: "relay",
      data: {
        state: "offline",
        reason: "Relay closed the link: auth_failed",
        code: "auth_failed",
        retry_in_ms: 30_000,
      },
    });
  w.ev({ type: "relay", data: { state: "connecting" } });
  fail();
  assertEquals(w.lines, [
    "schied: 2026-12-01 12:00:00 connecting to the relay…",
    "schied: 2026-12-01 12:00:00 error: authentication with the relay failed: Relay closed the " +
    "link: auth_failed; next try in 30 s\nschied: hint: " + AUTH_HINT,
  ]);
  // The same failure again within REPEAT_MS: no new line (and no "connecting" while failing).
  for (let i = 0; i < 5; i++) {
    w.ev({ type: "relay", data: { state: "connecting" } });
    fail();
  }
  assertEquals(w.lines.length, 2);
  w.advance(REPEAT_MS);
  fail();
  const errors = w.lines.filter((l) => l.includes(" error: "));
  assertEquals(errors.length, 2, w.lines.join("\n"));
  assertOk(errors[1]!.includes("failed (7 tries)"), errors[1]);
});

Deno.test("lifecycle log: counts of messages, only when changed, never texts", () => {
  const w = world();
  const msg = { id: "m", from: "x", from_name: "secret name", text: "secret text", ts: 0, seq: 1 };
  w.ev({ type: "message", data: msg });
  w.ev({ type: "message", data: msg });
  w.ev({ type: "status", data: { id: "o", to: "y", status: "delivered", seq: 1 } });
  w.log.counts();
  w.log.counts();
  assertEquals(w.lines, [
    "schied: 2026-12-01 12:00:00 messages since start: 2 in (+0 requests), 1 out delivered, 0 failed",
  ]);
  assertOk(!w.lines.join().includes("secret"), "no text or name in the log");
  // Logged by itself once COUNTS_MS passed and something happens.
  w.advance(COUNTS_MS);
  w.ev({ type: "message", data: msg });
  assertEquals(w.lines.length, 2);
});

Deno.test("lifecycle log: JSON Lines carry the fields", () => {
  const w = world("json");
  w.ev({
    type: "relay",
    data: { state: "offline", reason: "nope", code: "auth_failed", retry_in_ms: 30_000 },
  });
  const r = JSON.parse(w.lines[0]!);
  assertEquals(
    [r.level, r.event, r.code, r.retry_in_ms, r.hint, r.ts],
    ["error", "auth_failed", "auth_failed", 30_000, AUTH_HINT, "2026-12-01T12:00:00.000Z"],
  );
  assertEquals(w.lines.length, 1);
  assertEquals(
    formatLog({ ts: "2026-12-01T12:00:00.000Z", level: "info", event: "x", msg: "m" }, "text"),
    "schied: 2026-12-01 12:00:00 m",
  );
});
