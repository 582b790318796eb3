/**
 * The cluster's Redis address: parsed strictly, with credentials allowed, and never shown with
 * its password (errors and logs get `***`).
 *
 * @module
 */
import { assertEquals, assertThrows } from "../_assert.ts";
import { parseRedisUrl, redactRedisUrl } from "../../relay/cluster/url.ts";

Deno.test("parseRedisUrl: host and port, credentials allowed; what is refused says why", () => {
  assertEquals(parseRedisUrl("redis://10.0.0.5:6379"), { host: "10.0.0.5", port: 6379 });
  assertEquals(parseRedisUrl("redis://[::1]:6380/"), { host: "::1", port: 6380 });
  assertEquals(parseRedisUrl("redis://app:s3cret@redis.internal:6380"), {
    host: "redis.internal",
    port: 6380,
  });
  for (
    const [url, why] of [
      ["http://10.0.0.5:6379", "the scheme must be redis://"],
      ["redis://10.0.0.5", "it needs a host and a port"],
      ["redis://10.0.0.5:6379/3", "no database path is supported"],
      ["garbage", "not a URL"],
    ] as const
  ) {
    const e = assertThrows(() => parseRedisUrl(url)) as Error;
    assertEquals(e.message.endsWith(why), true, e.message);
  }
  const e = assertThrows(() => parseRedisUrl("rediss://u:s3cret@h:1")) as Error;
  assertEquals(e.message.includes("s3cret"), false, e.message);
});

Deno.test("redactRedisUrl: the password becomes ***, nothing else changes", () => {
  assertEquals(redactRedisUrl("redis://app:s3cret@h:6379"), "redis://app:***@h:6379");
  assertEquals(redactRedisUrl("redis://:s3cret@h:6379"), "redis://:***@h:6379");
  assertEquals(redactRedisUrl("redis://h:6379"), "redis://h:6379");
  assertEquals(redactRedisUrl("redis://app@h:6379"), "redis://app@h:6379");
});
