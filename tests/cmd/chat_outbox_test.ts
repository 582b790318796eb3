/**
 * Chat's outbox (cmd/_chat_outbox.ts) against a fake daemon: a line whose send failed without a
 * clear answer is sent again with the same idempotency key; lines keep their order; a refusal
 * drops the line and says so.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { type ApiClient, ApiError } from "../../api/client.ts";
import { type Link, Outbox } from "../../cmd/_chat_outbox.ts";
import { waitFor } from "../harness.ts";

/** A daemon that takes sends into `taken` (by key, as the real one) and fails when told. */
function fakeLink(fail: (n: number) => ApiError | "take-then-fail" | undefined) {
  const taken = new Map<string, string>();
  const keys: string[] = [];
  let calls = 0;
  const api = {
    send(req: { to: string; text: string; id?: string }) {
      keys.push(req.id!);
      const f = fail(calls++);
      if (f instanceof ApiError) return Promise.reject(f);
      if (!taken.has(req.id!)) taken.set(req.id!, req.text);
      // The daemon took it, but its answer never came.
      if (f === "take-then-fail") {
        return Promise.reject(new ApiError("daemon_unreachable", 0, "connection reset"));
      }
      return Promise.resolve({ id: `m-${req.id}`, status: "queued" as const });
    },
  } as unknown as ApiClient;
  let down = false;
  let back = Promise.withResolvers<void>();
  const said: string[] = [];
  const link: Link = {
    api,
    get down() {
      return down;
    },
    lost: () => {
      if (down) return;
      said.push("lost");
      down = true;
      back = Promise.withResolvers<void>();
    },
    up: () => {
      if (!down) return;
      said.push("up");
      down = false;
      back.resolve();
    },
    whenUp: () => down ? back.promise : Promise.resolve(),
    reconnect: () => {
      link.up();
      return Promise.resolve(true);
    },
  };
  return { link, taken, keys, said };
}

Deno.test("outbox: an unclear failure is retried with the same key: the line is taken once", async () => {
  const f = fakeLink((n) => n === 0 ? "take-then-fail" : undefined);
  const accepted: string[] = [];
  const stop = new AbortController();
  const box = new Outbox(f.link, "bob", {
    accepted: (l) => accepted.push(l.text),
    refused: () => {},
    changed: () => {},
  });
  const running = box.run(stop.signal);
  box.push("hello");
  box.push("second");
  await waitFor(() => accepted.length === 2, "both accepted");
  stop.abort();
  await running;
  assertEquals(accepted, ["hello", "second"]);
  assertEquals([...f.taken.values()], ["hello", "second"]);
  assertEquals(f.keys.length, 3);
  assertEquals(f.keys[0], f.keys[1], "the retry used the first key");
  assertOk(f.keys[1] !== f.keys[2]);
  assertEquals(f.said, ["lost", "up"]);
  assertEquals(box.waiting.length, 0);
});

Deno.test("outbox: a refusal drops the line and reports it; the next goes on", async () => {
  const tooLong = new ApiError("text_too_long", 413, "The text is too long");
  const f = fakeLink((n) => n === 0 ? tooLong : undefined);
  const refused: string[] = [];
  const accepted: string[] = [];
  const waiting: number[] = [];
  const stop = new AbortController();
  const box = new Outbox(f.link, "bob", {
    accepted: (l) => accepted.push(l.text),
    refused: (l, e) => refused.push(`${l.text}: ${e.message}`),
    changed: (n) => waiting.push(n),
  });
  const running = box.run(stop.signal);
  box.push("x".repeat(10));
  box.push("ok");
  await waitFor(() => accepted.length === 1, "the second accepted");
  stop.abort();
  await running;
  assertEquals(refused, ["xxxxxxxxxx: The text is too long"]);
  assertEquals(accepted, ["ok"]);
  assertEquals(waiting.at(-1), 0);
});

Deno.test("outbox: while the daemon is down lines wait, in order, and stop ends the loop", async () => {
  let up = false;
  const f = fakeLink(() => up ? undefined : new ApiError("daemon_unreachable", 0, "refused"));
  const accepted: string[] = [];
  const stop = new AbortController();
  const box = new Outbox(f.link, "bob", {
    accepted: (l) => accepted.push(l.text),
    refused: () => {},
    changed: () => {},
  });
  f.link.reconnect = () => Promise.resolve(false);
  const running = box.run(stop.signal);
  box.push("a");
  box.push("b");
  await waitFor(() => f.keys.length >= 2, "two tries");
  assertEquals(box.waiting.map((l) => l.text), ["a", "b"]);
  assertEquals(accepted, []);
  up = true;
  await waitFor(() => accepted.length === 2, "both once it is back");
  assertEquals(accepted, ["a", "b"]);
  stop.abort();
  await running;
});
