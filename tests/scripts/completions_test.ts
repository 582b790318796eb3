/**
 * `schied completions bash|zsh|fish`: the bash script loaded in a real bash answers COMPREPLY
 * for verbs, subcommands, flags and flag values; the zsh and fish scripts pass their shell's
 * syntax check (and fish's own completer) where those shells are installed; and the one table
 * the scripts come from names exactly the verbs of `schied --help` and the flags of each verb's
 * `--help`.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { COMPLETION_TABLE, flagsOf } from "../../cmd/completions.ts";
import { LAUNCHER, runScript } from "./_run.ts";

const GOLDEN = new URL("../cmd/golden/help_completions.txt", import.meta.url).pathname;
const UPDATE = Deno.env.get("UPDATE_GOLDEN") === "1";

/** The script of `schied completions SHELL`, run through the launcher. */
async function script(shell: string): Promise<string> {
  const home = await Deno.makeTempDir({ prefix: "schied-completions-" });
  try {
    const r = await runScript(LAUNCHER, ["completions", shell], { home });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stderr, "");
    return r.stdout;
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

/** Whether `shell` is installed (on PATH). */
async function has(shell: string): Promise<boolean> {
  try {
    const r = await new Deno.Command("sh", { args: ["-c", `command -v ${shell}`] }).output();
    return r.success;
  } catch {
    return false;
  }
}

/** Runs `shell args…`; returns its exit code and output. */
async function sh(shell: string, args: string[], cwd?: string) {
  const out = await new Deno.Command(shell, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("completions bash: complete -p names _schied, and COMPREPLY fits the words typed", async () => {
  const file = await Deno.makeTempFile({ prefix: "schied-completion-", suffix: ".bash" });
  const dir = await Deno.makeTempDir({ prefix: "schied-completion-dir-" });
  try {
    await Deno.writeTextFile(file, await script("bash"));
    await Deno.mkdir(`${dir}/state-a`);
    await Deno.writeTextFile(`${dir}/key.pem`, "");
    // Each case: the words (the last one is being completed) → the expected COMPREPLY.
    const cases: [string[], string[]][] = [
      [["schied", ""], Object.keys(COMPLETION_TABLE)],
      [["schied", "re"], ["relay", "requests"]],
      [["schied", "--state-dir", "x", "sta"], ["status"]],
      [["schied", "--ver"], ["--version"]],
      [["schied", "contacts", ""], ["add", "ls", "rm", "verify", "block", "unblock", "blocked"]],
      [["schied", "contacts", "bl"], ["block", "blocked"]],
      [["schied", "contacts", "add", ""], []],
      [["schied", "contacts", "ls", "--j"], ["--json"]],
      [["schied", "completions", ""], ["bash", "zsh", "fish"]],
      [["schied", "listen", "--e"], ["--exec"]],
      [["schied", "send", "--w"], ["--whole", "--wait"]],
      [["schied", "relay", "--max-s"], ["--max-sessions", "--max-sessions-per-ip"]],
      [["schied", "relay", "--a"], []],
      [["schied", "relay", "--port", ""], []],
      [["schied", "relay", "--key", `${dir}/key`], [`${dir}/key.pem`]],
      [["schied", "status", "--state-dir", `${dir}/st`], [`${dir}/state-a`]],
      [["schied", "chat", "--wait", "5", "--he"], ["--help"]],
      [["schied", "daemon", "--log-format", ""], ["text", "json"]],
    ];
    const lines = cases.map(([words]) => `t ${words.map((w) => `'${w}'`).join(" ")}`);
    const prog = `source '${file}' || exit 9
complete -p schied
t() { COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _schied
  printf '%s\\n' "\${COMPREPLY[*]}"; }
${lines.join("\n")}`;
    const r = await sh("bash", ["--norc", "--noprofile", "-c", prog], dir);
    assertEquals(r.stderr, "");
    assertEquals(r.code, 0);
    const out = r.stdout.split("\n");
    assertEquals(out[0], "complete -F _schied schied");
    for (const [i, [words, want]] of cases.entries()) {
      const got = (out[i + 1] ?? "").split(" ").filter(Boolean).sort();
      assertEquals(got, [...want].sort(), `COMPREPLY for ${JSON.stringify(words)}`);
    }
  } finally {
    await Deno.remove(file);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("completions zsh: zsh -n accepts it (skipped only without zsh)", async (t) => {
  if (!(await has("zsh"))) {
    console.log("SKIPPED: zsh is not installed, so the zsh script's syntax is not checked");
    return;
  }
  const file = await Deno.makeTempFile({ prefix: "schied-completion-", suffix: ".zsh" });
  try {
    const text = await script("zsh");
    assertOk(text.startsWith("#compdef schied\n"), "a #compdef file for fpath as well");
    await Deno.writeTextFile(file, text);
    await t.step("zsh -n", async () => {
      const r = await sh("zsh", ["-n", file]);
      assertEquals([r.code, r.stderr], [0, ""]);
    });
    await t.step("loads after compinit and registers _schied for schied", async () => {
      const r = await sh("zsh", [
        "-f",
        "-c",
        `autoload -Uz compinit && compinit -u -D && source '${file}' && print -r -- $_comps[schied]`,
      ]);
      assertEquals([r.code, r.stdout.trim()], [0, "_schied"], r.stderr);
    });
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("completions fish: fish -n accepts it, and complete -C answers (skipped only without fish)", async () => {
  if (!(await has("fish"))) {
    console.log("SKIPPED: fish is not installed, so the fish script is not checked");
    return;
  }
  const file = await Deno.makeTempFile({ prefix: "schied-completion-", suffix: ".fish" });
  try {
    await Deno.writeTextFile(file, await script("fish"));
    const syntax = await sh("fish", ["--no-config", "-n", file]);
    assertEquals([syntax.code, syntax.stderr], [0, ""]);
    const ask = (line: string) =>
      `complete -C '${line}' | string replace -r '\\t.*' '' | string join ' '`;
    const r = await sh("fish", [
      "--no-config",
      "-c",
      `source '${file}'; ${ask("schied rel")}; ${ask("schied completions ")}; ${
        ask("schied listen --e")
      }`,
    ]);
    assertEquals(r.stderr, "");
    assertEquals(r.stdout.split("\n").slice(0, 3), ["relay", "bash fish zsh", "--exec"]);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("completions: the table has exactly the verbs of 'schied --help' and each verb's --help flags", async () => {
  const home = await Deno.makeTempDir({ prefix: "schied-completions-" });
  try {
    const top = await runScript(LAUNCHER, ["--help"], { home });
    const listed = [
      ...top.stdout.split("\nVerbs:\n")[1]!.split("\n\n")[0]!.matchAll(/^ {2}(\S+)/gm),
    ]
      .map((m) => m[1]!);
    assertEquals(Object.keys(COMPLETION_TABLE).sort(), listed.sort(), "verbs of schied --help");
    for (const verb of listed) {
      const r = await runScript(LAUNCHER, [verb, "--help"], { home });
      assertEquals(r.code, 0, r.stderr);
      const inHelp = new Set(
        [...r.stdout.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)].map((m) => m[0]),
      );
      const inTable = new Set(flagsOf(verb).map((f) => f.name).filter((n) => n.startsWith("--")));
      const missing = [...inHelp].filter((f) => !inTable.has(f));
      const extra = [...inTable].filter((f) => !inHelp.has(f));
      assertEquals(
        { missing, extra },
        { missing: [], extra: [] },
        `schied ${verb}: cmd/completions.ts COMPLETION_TABLE must list the flags of its --help`,
      );
    }
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("completions: --help matches tests/cmd/golden/help_completions.txt; no shell is a usage error", async () => {
  const home = await Deno.makeTempDir({ prefix: "schied-completions-" });
  try {
    const help = await runScript(LAUNCHER, ["completions", "--help"], { home });
    assertEquals([help.code, help.stderr], [0, ""]);
    if (UPDATE) await Deno.writeTextFile(GOLDEN, help.stdout);
    assertEquals(help.stdout, await Deno.readTextFile(GOLDEN), "UPDATE_GOLDEN=1 rewrites it");
    for (const args of [["completions"], ["completions", "tcsh"], ["completions", "bash", "x"]]) {
      const r = await runScript(LAUNCHER, args, { home });
      assertEquals(r.code, 2, args.join(" "));
      assertEquals(r.stdout, "");
      assertOk(/^schied: error: .+\nschied: hint: .+\n$/.test(r.stderr), r.stderr);
    }
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
