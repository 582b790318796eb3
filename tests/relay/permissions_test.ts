import { assertEquals, assertOk } from "../_assert.ts";
import { SCHIED } from "../harness.ts";

/** The config file the launcher grants reading (XDG_CONFIG_HOME is set to a missing dir). */
const CONFIG = "/nonexistent-config/schied/config.json";

Deno.test("least privilege: the relay runs without -A and cannot read or write outside its state dir", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "schied-relay-" });
  const outside = await Deno.makeTempFile({ prefix: "schied-outside-" });
  await Deno.writeTextFile(outside, "not yours");
  const dry = await new Deno.Command(SCHIED, {
    args: ["relay", "--state-dir", stateDir],
    env: { SCHIED_DRY_RUN: "1", XDG_CONFIG_HOME: "/nonexistent-config" },
    stdout: "piped",
  }).output();
  assertEquals(dry.code, 0);
  const argv = new TextDecoder().decode(dry.stdout).trim().split("\n");
  assertOk(!argv.some((a) => a === "-A" || a === "--allow-all" || a === "--allow-run"));
  const perms = argv.filter((a) => a.startsWith("--allow-"));
  assertOk(
    perms.includes("--allow-net=127.0.0.1:8765,127.0.0.1:8766"),
    `network limited to its listen address and its metrics listener: ${perms}`,
  );
  const real = await Deno.realPath(stateDir);
  assertOk(
    perms.includes(`--allow-read=${real},${CONFIG}`),
    `read limited to the state dir and the config file: ${perms}`,
  );
  assertOk(perms.includes(`--allow-write=${real}`), `write limited to the state dir: ${perms}`);
  // Run a probe with exactly those permissions.
  const deno = argv[0]!;
  const probe = new URL("./_probe_fs.ts", import.meta.url).pathname;
  const out = await new Deno.Command(deno, {
    args: ["run", "--no-prompt", ...perms, probe, real, outside],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const result = JSON.parse(new TextDecoder().decode(out.stdout));
  assertEquals(result, {
    readInside: "allowed",
    readOutside: "denied",
    writeOutside: "denied",
    readEtc: "denied",
    run: "denied",
  });
});

Deno.test("least privilege: the daemon may reach only its relay and its API address", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "schied-daemon-" });
  const dry = await new Deno.Command(SCHIED, {
    args: [
      "daemon",
      "--relay",
      "ws://127.0.0.1:9/#x",
      "--api",
      "127.0.0.1:7001",
      "--state-dir",
      stateDir,
    ],
    env: { SCHIED_DRY_RUN: "1", XDG_CONFIG_HOME: "/nonexistent-config" },
    stdout: "piped",
  }).output();
  const argv = new TextDecoder().decode(dry.stdout).trim().split("\n");
  const perms = argv.filter((a) => a.startsWith("--allow-"));
  const real = await Deno.realPath(stateDir);
  assertEquals(perms, [
    "--allow-net=127.0.0.1:7001,127.0.0.1:9",
    "--allow-env",
    `--allow-read=${real},${CONFIG}`,
    `--allow-write=${real}`,
  ]);
});

Deno.test("least privilege: --metrics-listen moves the relay's second address; off drops it", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "schied-relay-" });
  const net = async (...extra: string[]) => {
    const dry = await new Deno.Command(SCHIED, {
      args: ["relay", "--state-dir", stateDir, "--port", "9000", ...extra],
      env: { SCHIED_DRY_RUN: "1", XDG_CONFIG_HOME: "/nonexistent-config" },
      stdout: "piped",
    }).output();
    return new TextDecoder().decode(dry.stdout).split("\n").find((a) =>
      a.startsWith("--allow-net")
    );
  };
  assertEquals(await net(), "--allow-net=127.0.0.1:9000,127.0.0.1:8766");
  assertEquals(
    await net("--metrics-listen", "[::1]:9100"),
    "--allow-net=127.0.0.1:9000,[::1]:9100",
  );
  assertEquals(await net("--metrics-listen=off"), "--allow-net=127.0.0.1:9000");
});
