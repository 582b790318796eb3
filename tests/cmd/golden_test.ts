/**
 * Golden tests of the CLI's output: help texts, the version, and the usage/error messages, each
 * run through scripts/schied (so with the permissions users get) and compared byte for byte with
 * a file in tests/cmd/golden/, together with the exit code.
 *
 * Temp paths are replaced by `<STATE_DIR>` before comparing, so the goldens do not depend on the
 * machine. To regenerate the goldens after a deliberate change of the output, run:
 *
 *   UPDATE_GOLDEN=1 deno test --no-prompt --allow-net=127.0.0.1,localhost --allow-read \
 *     --allow-write --allow-run --allow-env tests/cmd/golden_test.ts
 *
 * and review the diff of tests/cmd/golden/ before committing.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { cli, type CliResult } from "../daemon_harness.ts";

const GOLDEN_DIR = new URL("./golden/", import.meta.url).pathname;
const UPDATE = Deno.env.get("UPDATE_GOLDEN") === "1";
const VERBS = [
  "relay",
  "daemon",
  "init",
  "id",
  "send",
  "cancel",
  "listen",
  "chat",
  "history",
  "contacts",
  "files",
  "group",
  "status",
  "config",
];

/** One CLI run checked against a golden file. */
interface Case {
  golden: string;
  args: string[];
  code: number;
  stream: "stdout" | "stderr";
  env?: Record<string, string>;
}

const CASES: Case[] = [
  { golden: "help", args: ["--help"], code: 0, stream: "stdout" },
  { golden: "version", args: ["--version"], code: 0, stream: "stdout" },
  { golden: "no_verb", args: [], code: 2, stream: "stdout" },
  ...VERBS.map((v): Case => ({
    golden: `help_${v}`,
    args: [v, "--help"],
    code: 0,
    stream: "stdout",
  })),
  { golden: "error_unknown_verb", args: ["frob"], code: 2, stream: "stderr" },
  {
    golden: "error_listen_since_dash",
    args: ["listen", "--since", "-5"],
    code: 2,
    stream: "stderr",
  },
  { golden: "error_send_no_recipient", args: ["send"], code: 2, stream: "stderr" },
  { golden: "error_relay_port", args: ["relay", "--port", "99999"], code: 2, stream: "stderr" },
  {
    golden: "error_relay_cert_without_key",
    args: ["relay", "--cert", "x"],
    code: 2,
    stream: "stderr",
  },
  {
    golden: "error_daemon_relay_not_url",
    args: ["daemon", "--relay", "not-a-url"],
    code: 2,
    stream: "stderr",
  },
  {
    golden: "error_daemon_api_not_loopback",
    args: ["daemon", "--api", "0.0.0.0:7777"],
    code: 2,
    stream: "stderr",
  },
  {
    golden: "error_daemon_give_up_zero",
    args: ["daemon", "--give-up", "0"],
    code: 2,
    stream: "stderr",
  },
  { golden: "error_status_no_daemon", args: ["status"], code: 3, stream: "stderr" },
  {
    golden: "error_relay_cluster_url",
    args: ["relay", "--cluster", "http://10.0.0.5:6379"],
    code: 2,
    stream: "stderr",
  },
  {
    golden: "error_relay_cluster_env",
    args: ["relay"],
    env: { SCHIED_CLUSTER: "garbage" },
    code: 2,
    stream: "stderr",
  },
  {
    golden: "error_relay_node_name_alone",
    args: ["relay", "--node-name", "n1"],
    code: 2,
    stream: "stderr",
  },

  { golden: "error_contacts_unknown", args: ["contacts", "frob"], code: 2, stream: "stderr" },
  { golden: "error_listen_argument", args: ["listen", "extra"], code: 2, stream: "stderr" },
];

/** Runs schied in a fresh, empty state dir; replaces the dir's path by a placeholder. */
async function run(args: string[], env?: Record<string, string>): Promise<CliResult> {
  const dir = await Deno.makeTempDir({ prefix: "schied-golden-" });
  try {
    const r = await cli(["--state-dir", dir, ...args], { env });
    const real = await Deno.realPath(dir);
    const clean = (s: string) => s.replaceAll(real, "<STATE_DIR>").replaceAll(dir, "<STATE_DIR>");
    return { code: r.code, stdout: clean(r.stdout), stderr: clean(r.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Compares `actual` with the golden file `name`, or writes it with UPDATE_GOLDEN=1. */
async function checkGolden(name: string, actual: string): Promise<void> {
  const path = `${GOLDEN_DIR}${name}.txt`;
  if (UPDATE) {
    await Deno.mkdir(GOLDEN_DIR, { recursive: true });
    await Deno.writeTextFile(path, actual);
    return;
  }
  let expected: string;
  try {
    expected = await Deno.readTextFile(path);
  } catch {
    throw new Error(`missing golden ${path}; run with UPDATE_GOLDEN=1 to create it`);
  }
  assertEquals(actual, expected, `output differs from ${path} (UPDATE_GOLDEN=1 rewrites it)`);
}

Deno.test("golden: help, version and error messages match tests/cmd/golden/", async (t) => {
  const results = await Promise.all(CASES.map((c) => run(c.args, c.env)));
  for (const [i, c] of CASES.entries()) {
    await t.step(`schied ${c.args.join(" ") || "(no verb)"} → ${c.golden}.txt`, async () => {
      const r = results[i]!;
      assertEquals(r.code, c.code, `exit code of schied ${c.args.join(" ")}:\n${r.stderr}`);
      await checkGolden(c.golden, r[c.stream]);
      // Help goes to stdout only; errors go to stderr only.
      if (c.stream === "stdout") assertEquals(r.stderr, "", `stderr of ${c.args.join(" ")}`);
      else assertEquals(r.stdout, "", `stdout of ${c.args.join(" ")}`);
    });
  }
});

Deno.test("golden: every error is one 'schied: error:' line and one 'schied: hint:' line", async () => {
  for (const c of CASES.filter((x) => x.stream === "stderr")) {
    const lines = (await Deno.readTextFile(`${GOLDEN_DIR}${c.golden}.txt`)).trimEnd().split("\n");
    assertOk(/^schied: error: \S/.test(lines[0] ?? ""), `${c.golden}: ${lines[0]}`);
    assertOk(lines.slice(1).every((l) => l.startsWith("schied: hint: ")), `${c.golden}: ${lines}`);
    assertOk(lines.length <= 2, `${c.golden}: at most one hint`);
  }
});

Deno.test("golden: every verb's help names the verb and the global flags", async () => {
  for (const v of VERBS) {
    const text = await Deno.readTextFile(`${GOLDEN_DIR}help_${v}.txt`);
    assertOk(text.startsWith(`Usage: schied ${v}`), `help_${v} starts with its usage line`);
    if (v !== "relay") assertOk(text.includes("--state-dir DIR"), `help_${v} lists --state-dir`);
  }
  const top = await Deno.readTextFile(`${GOLDEN_DIR}help.txt`);
  for (const v of VERBS) assertOk(new RegExp(`^  ${v} +\\S`, "m").test(top), `help lists ${v}`);
});

Deno.test("an unknown flag of any verb is a usage error with a hint to the verb's help", async () => {
  const results = await Promise.all(VERBS.map((v) => run([v, "--no-such-flag"])));
  for (const [i, v] of VERBS.entries()) {
    const r = results[i]!;
    assertEquals(r.code, 2, `exit code of schied ${v} --no-such-flag:\n${r.stderr}`);
    const lines = r.stderr.trimEnd().split("\n");
    assertEquals(lines.length, 2, `two lines on stderr for ${v}: ${r.stderr}`);
    assertEquals(lines[0], "schied: error: unknown flag --no-such-flag", v);
    assertEquals(lines[1], `schied: hint: run 'schied ${v} --help' for usage`);
    assertEquals(r.stdout, "");
  }
});
