/**
 * `send` and a busy daemon (cmd/_busy.ts): a `busy` answer is tried again after its Retry-After
 * (1 s when it has none, at most 10 s), until the patience runs out; any other error at once.
 * And the API client carries Retry-After on its ApiError.
 *
 * @module
 */
import { assertEquals, assertRejects } from "../_assert.ts";
import { ApiClient, ApiError } from "../../api/mod.ts";
import { BUSY_PATIENCE_MS, patiently } from "../../cmd/_busy.ts";
import { OVERLOAD_RETRY_AFTER_S, ServiceError } from "../../daemon/service.ts";
import { startApi } from "../api/_helpers.ts";

/** A fake clock whose sleep moves it. */
function clock() {
  let t = 0;
  const slept: number[] = [];
  return {
    slept,
    o: {
      now: () => t,
      sleep: (ms: number) => {
        slept.push(ms);
        t += ms;
        return Promise.resolve();
      },
    },
  };
}

const busy = (s?: number) => new ApiError("busy", 503, "The daemon is at capacity", s);

Deno.test("patiently: busy is tried again after Retry-After until it succeeds", async () => {
  const c = clock();
  const answers = [busy(1), busy(), busy(3600), "ok"];
  const r = await patiently(() => {
    const a = answers.shift()!;
    return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
  }, c.o);
  assertEquals(r, "ok");
  assertEquals(c.slept, [1000, 1000, 10_000]); // none: 1 s; an hour: capped at 10 s
});

Deno.test("patiently: past the patience the busy error comes through; other errors at once", async () => {
  const c = clock();
  let calls = 0;
  const e = await assertRejects(() =>
    patiently(() => {
      calls++;
      return Promise.reject(busy(1));
    }, c.o)
  );
  assertEquals((e as ApiError).code, "busy");
  assertEquals(calls, BUSY_PATIENCE_MS / 1000 + 1);
  const c2 = clock();
  const other = new ApiError("recipient_unknown", 404, "No contact");
  assertEquals(await assertRejects(() => patiently(() => Promise.reject(other), c2.o)), other);
  assertEquals(c2.slept, []);
});

Deno.test("ApiClient: a busy answer's Retry-After is on the ApiError", async () => {
  await using api = startApi();
  api.fake.checkSendCapacity = () => {
    throw new ServiceError("busy", "at capacity", OVERLOAD_RETRY_AFTER_S);
  };
  const c = new ApiClient({ baseUrl: api.url, token: api.token });
  const e = await assertRejects(() => c.send({ to: "alice", text: "hi" })) as ApiError;
  assertEquals([e.code, e.http, e.retryAfterS], ["busy", 503, OVERLOAD_RETRY_AFTER_S]);
  const e2 = await assertRejects(() => c.message("nope")) as ApiError;
  assertEquals(e2.retryAfterS, undefined);
});
