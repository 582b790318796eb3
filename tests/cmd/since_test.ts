import { assertEquals, assertOk, assertThrows } from "../_assert.ts";
import { parseSince } from "../../cmd/_since.ts";
import { stamp } from "../../cmd/_format.ts";
import { historyLine } from "../../cmd/history.ts";
import { CliError } from "../../cmd/_output.ts";

Deno.test("--since: event ids and durations", () => {
  const now = () => 10_000_000_000;
  const table: [string, ReturnType<typeof parseSince>][] = [
    ["0", { eventId: 0 }],
    ["1234", { eventId: 1234 }],
    ["90s", { ts: 10_000_000_000 - 90_000 }],
    ["10m", { ts: 10_000_000_000 - 600_000 }],
    ["2h", { ts: 10_000_000_000 - 7_200_000 }],
    ["1d", { ts: 10_000_000_000 - 86_400_000 }],
    ["1w", { ts: 10_000_000_000 - 604_800_000 }],
    ["1h30m", { ts: 10_000_000_000 - 5_400_000 }],
  ];
  for (const [text, want] of table) assertEquals(parseSince(text, now), want, text);
  for (const bad of ["-5", "10", "10x", "m", "1.5h", "", "99999999999w", "10 m", "1e3"]) {
    if (bad === "10") continue; // an event id
    const e = assertThrows(() => parseSince(bad, now), (e) => e instanceof CliError, bad);
    assertEquals((e as CliError).exit, 2, bad);
    assertOk((e as Error).message.includes("an event id or a duration"), (e as Error).message);
  }
});

Deno.test("stamp: the time today, the date and time on another day", () => {
  const now = new Date(2026, 11, 1, 15, 0, 0).getTime();
  assertEquals(stamp(new Date(2026, 11, 1, 9, 5, 7).getTime(), now), "09:05:07");
  assertEquals(stamp(new Date(2026, 10, 30, 23, 59, 1).getTime(), now), "2026-11-30 23:59:01");
  assertEquals(stamp(new Date(2025, 11, 1, 9, 5, 7).getTime(), now), "2025-12-01 09:05:07");
});

Deno.test("history lines: direction, state marks, escaped text", () => {
  const now = new Date(2026, 11, 1, 15, 0, 0).getTime();
  const base = {
    id: "m",
    peer: "0b3e51c2-6f1d-8a4e-9c1b-2d3e4f5a6b7c",
    peer_name: null,
    ts: new Date(2026, 11, 1, 12, 0, 1).getTime(),
    seq: 1,
    event_id: 1,
  };
  assertEquals(
    historyLine({ ...base, direction: "in", text: "hi\x1b[2J", status: "delivered" }, false, now),
    "12:00:01 0b3e51c2: hi\\x1b[2J",
  );
  assertEquals(
    historyLine({ ...base, direction: "out", text: "yo", status: "delivered" }, false, now),
    "12:00:01 me: yo ✓✓",
  );
  assertEquals(
    historyLine(
      { ...base, direction: "out", text: "x", status: "failed", reason: "cancelled" },
      false,
      now,
    ),
    "12:00:01 me: x ✗ (cancelled)",
  );
});
