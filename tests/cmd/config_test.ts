/**
 * Settings (issue 9, item 11): flag > SCHIED_* variable > config file > default, booleans
 * included; the file strictly checked; `schied config` shows where each comes from; the
 * launcher grants what the file names.
 */
import { assertEquals, assertOk, assertThrows } from "../_assert.ts";
import { applySettings, configPath, envBool, loadConfig } from "../../cmd/_config.ts";
import { CliError } from "../../cmd/_output.ts";
import { cli } from "../daemon_harness.ts";

async function withConfig(
  text: string,
): Promise<{ dir: string; env: (k: string) => string | undefined }> {
  const dir = await Deno.makeTempDir({ prefix: "schied-config-" });
  await Deno.mkdir(`${dir}/schied`);
  await Deno.writeTextFile(`${dir}/schied/config.json`, text);
  return { dir, env: (k) => (k === "XDG_CONFIG_HOME" ? dir : undefined) };
}

const OPTIONS = {
  relay: { type: "string" },
  quiet: { type: "boolean" },
  "allow-origin": { type: "string", multiple: true },
  port: { type: "string" },
  id: { type: "string" }, // per invocation: never from env or file
};

Deno.test("settings: flag > env > file, booleans and lists too; per-invocation flags never", async () => {
  const { env: fileEnv } = await withConfig(
    '{"version": 1, "relay": "ws://file/#k", "quiet": true, "port": 9000, "allow-origin": ["http://a"]}',
  );
  const envs: Record<string, string> = { SCHIED_RELAY: "ws://env/#k", SCHIED_ID: "same-key" };
  const env = (k: string) => envs[k] ?? fileEnv(k);
  const v1: Record<string, unknown> = { relay: "ws://flag/#k" };
  const s1 = applySettings(v1, OPTIONS, env);
  assertEquals(v1, {
    relay: "ws://flag/#k",
    quiet: true,
    port: "9000",
    "allow-origin": ["http://a"],
  });
  assertEquals([...s1], [["relay", "flag"], ["quiet", "file"], ["allow-origin", "file"], [
    "port",
    "file",
  ]]);
  const v2: Record<string, unknown> = {};
  applySettings(
    v2,
    OPTIONS,
    (k) =>
      ({ ...envs, SCHIED_QUIET: "0", SCHIED_ALLOW_ORIGIN: "http://x, http://y" })[k] ?? fileEnv(k),
  );
  assertEquals(v2.relay, "ws://env/#k");
  assertEquals(v2.quiet, false, "a boolean variable overrides the file");
  assertEquals(v2["allow-origin"], ["http://x", "http://y"]);
  assertEquals(v2.id, undefined, "SCHIED_ID is not --id");
});

Deno.test("settings: boolean variables take 1/true/yes/on and 0/false/no/off only", () => {
  for (const t of ["1", "true", "YES", "on"]) assertEquals(envBool("SCHIED_QUIET", t), true, t);
  for (const t of ["0", "false", "No", "off", ""]) {
    assertEquals(envBool("SCHIED_QUIET", t), false, t);
  }
  const e = assertThrows(() => envBool("SCHIED_QUIET", "maybe"), (e) => e instanceof CliError);
  assertOk(
    (e as Error).message.includes('SCHIED_QUIET must be 1/true/yes or 0/false/no, got "maybe"'),
  );
});

Deno.test("config file: strictly checked, with the path in every error", async () => {
  const table: [string, string][] = [
    ["{", "not valid JSON"],
    ["[]", "must be a JSON object of settings"],
    ['{"version": 2}', '"version" must be 1'],
    ['{"relai": "x"}', 'unknown setting "relai"'],
    ['{"relay": 5}', '"relay" must be a string'],
    ['{"quiet": "yes"}', '"quiet" must be true or false'],
    ['{"port": -1}', '"port" must be a whole number'],
    ['{"allow-origin": "x"}', '"allow-origin" must be a list of strings'],
    ['{"relay": "a\\\\b"}', "must not contain quotes, backslashes or newlines"],
  ];
  for (const [text, what] of table) {
    const { env } = await withConfig(text);
    const e = assertThrows(() => loadConfig(env), (e) => e instanceof CliError, text);
    assertOk((e as Error).message.startsWith(configPath(env)), (e as Error).message);
    assertOk((e as Error).message.includes(what), `${text}: ${(e as Error).message}`);
    assertEquals((e as CliError).exit, 2);
  }
  assertEquals(loadConfig((k) => (k === "XDG_CONFIG_HOME" ? "/nonexistent" : undefined)), {});
  assertEquals(configPath((k) => ({ HOME: "/h" })[k]), "/h/.config/schied/config.json");
  assertEquals(configPath((k) => ({ HOME: "/h", SCHIED_CONFIG: "/c.json" })[k]), "/c.json");
});

Deno.test("schied config shows the sources; the launcher grants what the file names", async () => {
  const { dir } = await withConfig(
    '{"version": 1, "relay": "ws://10.9.8.7:9000/#k", "api": "127.0.0.1:7771", "log-format": "json"}',
  );
  const home = await Deno.makeTempDir();
  const env = {
    XDG_CONFIG_HOME: dir,
    HOME: home,
    XDG_STATE_HOME: `${home}/state`,
    // Deno's own module cache stays where it is (not schied's doing).
    DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
  };
  const r = await cli(["config"], { env: { ...env, SCHIED_LOG_FORMAT: "text" } });
  assertEquals(r.code, 0, r.stderr);
  assertOk(r.stdout.includes(`config file  ${dir}/schied/config.json`), r.stdout);
  assertOk(/relay +ws:\/\/10\.9\.8\.7:9000\/#k +\(file\)/.test(r.stdout), r.stdout);
  assertOk(/log-format +text +\(env SCHIED_LOG_FORMAT\)/.test(r.stdout), r.stdout);
  const j = await cli(["config"], { env: { ...env, SCHIED_JSON: "1" } });
  assertEquals(JSON.parse(j.stdout).settings.api, { value: "127.0.0.1:7771", source: "file" });
  const dry = await cli(["daemon"], { env: { ...env, SCHIED_DRY_RUN: "1" } });
  assertOk(dry.stdout.includes("--allow-net=127.0.0.1:7771,10.9.8.7:9000"), dry.stdout);
  assertOk(dry.stdout.includes(`${dir}/schied/config.json`), "the file is readable");
  // A flag wins over the file for the permission too.
  const flag = await cli(["daemon", "--api", "127.0.0.1:7000"], {
    env: { ...env, SCHIED_DRY_RUN: "1" },
  });
  assertOk(flag.stdout.includes("--allow-net=127.0.0.1:7000,10.9.8.7:9000"), flag.stdout);
  const broken = await withConfig('{"relay": 5}');
  const b = await cli(["status"], { env: { ...env, XDG_CONFIG_HOME: broken.dir } });
  assertEquals(b.code, 2, b.stderr);
  assertOk(b.stderr.includes('"relay" must be a string'), b.stderr);
  const entries = [];
  for await (const e of Deno.readDir(home)) entries.push(e.name);
  assertEquals(entries, [], "config and status created nothing");
});
