/**
 * The README's walkthrough, run as written (issue 9, item 8): its shell blocks are read from
 * README.md and run with bash in order — the relay, Alice's daemon, Bob's daemon, Alice's
 * commands, Bob's commands. Only what a reader fills in or the machine forces is substituted:
 * the pasted relay address and ids (the `…` lines), free ports for 8765/7771/7772, a temp dir
 * for /tmp/alice and /tmp/bob, HOME and XDG_STATE_HOME in a temp dir, and a `notify-send` on
 * PATH that records its arguments. Commands that run until Ctrl-C (`listen`, `curl -N`) are
 * started in the background and checked by what they print.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { pumpLines, waitFor } from "../harness.ts";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** The ```sh blocks of the README's walkthrough section, in order. */
async function walkthroughBlocks(): Promise<string[]> {
  const readme = await Deno.readTextFile(`${ROOT}/README.md`);
  const start = readme.indexOf("## Walkthrough");
  assertOk(start >= 0, "the README has a walkthrough");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** The block with its last command run by `exec`, so that stopping bash stops the server. */
function execLast(block: string): string {
  const lines = block.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    if (/^\S/.test(lines[i]!) && !lines[i]!.startsWith("#") && !/^\w+=/.test(lines[i]!)) {
      lines[i] = `exec ${lines[i]}`;
      break;
    }
  }
  return lines.join("\n");
}

interface Run {
  child: Deno.ChildProcess;
  out: string[];
  err: string[];
}

Deno.test("README walkthrough: every command runs as written and does what its comment says", async () => {
  const blocks = await walkthroughBlocks();
  assertEquals(blocks.length, 5, "relay, Alice's daemon, Bob's daemon, Alice, Bob");
  const tmp = await Deno.makeTempDir({ prefix: "schied-walkthrough-" });
  const bin = `${tmp}/bin`;
  await Deno.mkdir(bin);
  await Deno.writeTextFile(
    `${bin}/notify-send`,
    `#!/bin/sh\nprintf '%s|%s\\n' "$1" "$2" >> ${tmp}/notified\n`,
    { mode: 0o755 },
  );
  const ports = { "8765": freePort(), "7771": freePort(), "7772": freePort() };
  const vars: Record<string, string> = {};
  const subst = (block: string) => {
    let s = block.replaceAll("./scripts/", `${ROOT}/scripts/`)
      .replaceAll("/tmp/alice", `${tmp}/alice`).replaceAll("/tmp/bob", `${tmp}/bob`);
    for (const [from, to] of Object.entries(ports)) s = s.replaceAll(from, String(to));
    // The lines a reader fills in: NAME=…  (the value pasted from another terminal).
    return s.replace(/^(RELAY|BOB|ALICE)=.*$/gm, (_l, name: string) => {
      assertOk(vars[name], `${name} is known when its line comes`);
      return `${name}='${vars[name]}'`;
    });
  };
  const env = {
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
    HOME: `${tmp}/home`,
    XDG_STATE_HOME: `${tmp}/state`,
    PATH: `${bin}:${Deno.env.get("PATH")}`,
    // The relay's default port, 8765, is the one the walkthrough shows: a free one here.
    SCHIED_PORT: String(ports["8765"]),
    SCHIED_METRICS_LISTEN: "off",
  };
  const spawn = (script: string): Run => {
    const child = new Deno.Command("bash", {
      args: ["-c", script],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const r: Run = { child, out: [], err: [] };
    void pumpLines(child.stdout, (l) => r.out.push(l));
    void pumpLines(child.stderr, (l) => r.err.push(l));
    return r;
  };
  const servers: Run[] = [];
  const background = `${tmp}/bg`;
  await Deno.mkdir(background);
  try {
    // Terminal 1: the relay prints its address.
    const relay = spawn(execLast(subst(blocks[0]!)));
    servers.push(relay);
    await waitFor(() => relay.out.find((l) => l.startsWith("ws://")), "the relay's address");
    vars.RELAY = relay.out.find((l) => l.startsWith("ws://"))!.trim();
    // Terminals 2 and 3: the daemons print their ids.
    for (const [i, who] of [[1, "ALICE"], [2, "BOB"]] as const) {
      const d = spawn(execLast(subst(blocks[i]!)));
      servers.push(d);
      await waitFor(() => d.out.find((l) => l.startsWith("id ")), `${who}'s id`, 30_000);
      vars[who] = d.out.find((l) => l.startsWith("id "))!.slice(3).trim();
    }
    const dirs = { ALICE: `${tmp}/alice`, BOB: `${tmp}/bob` };
    for (const dir of Object.values(dirs)) {
      await waitFor(
        async () => {
          const p = new Deno.Command(`${ROOT}/scripts/schied`, {
            args: ["status", "--state-dir", dir],
            env,
            stdout: "null",
            stderr: "null",
          });
          return (await p.output()).code === 0;
        },
        `${dir} online`,
        30_000,
      );
    }

    // Alice's shell, top to bottom (chat reads no terminal here: it shows, then ends).
    const alice = spawn(`set -e\n${subst(blocks[3]!)}`);
    const a = await alice.child.status;
    assertEquals(a.code, 0, `Alice's commands:\n${alice.out.join("\n")}\n${alice.err.join("\n")}`);
    assertOk(alice.out.some((l) => l.includes('"status":"queued"')), "curl's answer");

    // Bob's shell: what runs until Ctrl-C goes to the background, each with its own output.
    let n = 0;
    const bob = subst(blocks[4]!).split("\n").map((line) => {
      if (!/(schied listen|curl -N)/.test(line)) return line;
      n++;
      return `${
        line.replace(/\s+#.*$/, "")
      } > ${background}/${n}.out 2>&1 & echo $! >> ${background}/pids`;
    }).join("\n");
    assertEquals(n, 4, "three listens and curl -N");
    const bobRun = spawn(`set -e\n${bob}`);
    const b = await bobRun.child.status;
    const bobOut = bobRun.out.join("\n");
    assertEquals(b.code, 0, `Bob's commands:\n${bobOut}\n${bobRun.err.join("\n")}`);
    assertOk(bobOut.includes(vars.ALICE!), `requests lists Alice:\n${bobOut}`);
    // history: what Alice wrote before Bob looked, oldest first, under Alice's new name.
    const said = ["hi", "see you at six", "hello from curl"];
    for (const t of said) {
      assertOk(bobOut.includes(`alice: ${t}`), `history shows "${t}":\n${bobOut}`);
    }
    // send --file --wait returned once Alice had the file: files ls shows it complete.
    assertOk(/complete .* to alice {2}bob-notes\.txt/.test(bobOut), `files ls:\n${bobOut}`);

    const file = (i: number) => Deno.readTextFile(`${background}/${i}.out`).catch(() => "");
    // listen --json --since 0 has all three; listen --since 10m ran notify-send for each.
    await waitFor(
      async () =>
        (await file(2)).split("\n").filter((l) => l.includes('"event":"message"')).length >= 3,
      "listen --json --since 0",
    );
    await waitFor(
      async () =>
        (await Deno.readTextFile(`${tmp}/notified`).catch(() => "")).split("\n")
          .filter(Boolean).length >= 3,
      "notify-send for each message",
    );
    assertEquals(
      (await Deno.readTextFile(`${tmp}/notified`)).trimEnd().split("\n"),
      said.map((t) => `alice|${t}`),
    );
    // listen (from now) shows what comes next, and the raw stream has it too.
    const send = new Deno.Command(`${ROOT}/scripts/schied`, {
      args: ["send", "bob", "one more", "--state-dir", dirs.ALICE],
      env,
    });
    assertEquals((await send.output()).code, 0);
    await waitFor(async () => (await file(1)).includes("alice: one more"), "listen shows it");
    assertOk(!(await file(1)).includes("alice: hi"), "listen starts from now");
    await waitFor(async () => (await file(4)).includes("event: message"), "curl -N shows SSE");
  } finally {
    const pids = await Deno.readTextFile(`${background}/pids`).catch(() => "");
    for (const pid of pids.split("\n").filter(Boolean)) {
      try {
        Deno.kill(Number(pid), "SIGTERM");
      } catch { /* already gone */ }
    }
    for (const s of servers.reverse()) {
      try {
        s.child.kill("SIGTERM");
      } catch { /* exited */ }
      await s.child.status;
    }
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
});
