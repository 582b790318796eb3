/**
 * `schied relay --cluster` when its Redis cannot be reached at start: exit 1 with an error and a
 * hint naming where the address came from, no stack trace (the usage errors are golden files).
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { cli } from "../daemon_harness.ts";
import { freePort } from "../harness.ts";

Deno.test("relay --cluster: a Redis that does not answer at start is a clear error, from the flag or the variable", async () => {
  const dir = await Deno.makeTempDir({ prefix: "schied-cluster-cli-" });
  const url = `redis://127.0.0.1:${freePort()}`; // nothing listens there
  try {
    const common = ["--state-dir", dir, "relay", "--port", "0", "--metrics-listen", "off"];
    for (
      const [args, env, from] of [
        [["--cluster", url], {}, "--cluster"],
        [[], { SCHIED_CLUSTER: url }, "SCHIED_CLUSTER"],
      ] as const
    ) {
      const r = await cli([...common, ...args], { env });
      assertEquals(r.code, 1, r.stderr);
      const lines = r.stderr.trimEnd().split("\n");
      assertOk(
        lines.at(-2)!.startsWith(`schied: error: cannot reach the cluster's Redis at ${url}: `),
        r.stderr,
      );
      assertEquals(
        lines.at(-1),
        `schied: hint: start redis-server there (README "Running several relays"), or check ${from}`,
      );
      assertOk(!/^\s+at /m.test(r.stderr), `no stack trace: ${r.stderr}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
