/**
 * The launcher, scripts/schied: it works through a symlink in PATH, a read-only verb creates
 * nothing (no state dir), the paths it grants are the ones Deno will check, and
 * scripts/install links it into a bin dir and removes the link again.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { INSTALL, LAUNCHER, listTree, runScript } from "./_run.ts";

/** A temp dir with an empty home and an empty XDG_STATE_HOME in it, removed after `fn`. */
async function withHome(fn: (home: string, stateHome: string) => Promise<void>): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "schied-home-" }));
  try {
    await Deno.mkdir(`${dir}/home`);
    await Deno.mkdir(`${dir}/state`);
    await fn(`${dir}/home`, `${dir}/state`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("launcher: help, --version, status and completions create nothing, not even the state dir", async () => {
  await withHome(async (home, stateHome) => {
    const runs: [string[], number][] = [
      [["--help"], 0],
      [["--version"], 0],
      [["status"], 3],
      [["status", "--json"], 3],
      [["completions", "bash"], 0],
      [["daemon", "--help"], 0],
      [["relay", "--help"], 0],
      [["init", "--help"], 0],
      [["contacts", "ls"], 3],
    ];
    for (const [args, code] of runs) {
      const r = await runScript(LAUNCHER, args, { home, stateHome });
      assertEquals(r.code, code, `schied ${args.join(" ")}: ${r.stderr}`);
    }
    assertEquals(await listTree(home), [], "nothing in HOME");
    assertEquals(await listTree(stateHome), [], "nothing in XDG_STATE_HOME");
    // Without XDG_STATE_HOME the default is ~/.local/state/schied: not made either.
    const r = await runScript(LAUNCHER, ["status"], { home, env: { XDG_STATE_HOME: "" } });
    assertEquals(r.code, 3, r.stderr);
    assertOk(r.stderr.includes(`${home}/.local/state/schied`), r.stderr);
    assertEquals(await listTree(home), [], "nothing in HOME");
  });
});

Deno.test("launcher: init creates the state dir (0700), and it is the dir Deno was granted", async () => {
  await withHome(async (home, stateHome) => {
    const r = await runScript(LAUNCHER, ["init"], { home, stateHome });
    assertEquals(r.code, 0, r.stderr);
    const st = await Deno.stat(`${stateHome}/schied`);
    assertOk(st.isDirectory);
    assertEquals(st.mode! & 0o777, 0o700);
  });
});

Deno.test("launcher: a missing or relative state dir is granted as an absolute, normalized path, not created", async () => {
  await withHome(async (home, stateHome) => {
    const perms = async (args: string[]) => {
      const r = await runScript(LAUNCHER, args, { home, stateHome, env: { SCHIED_DRY_RUN: "1" } });
      assertEquals(r.code, 0, r.stderr);
      return r.stdout.split("\n").filter((a) =>
        a.startsWith("--allow-read") || a.startsWith("--allow-write")
      );
    };
    assertEquals(await perms(["status", "--state-dir", "a/./b/../c"]), [
      `--allow-read=${home}/a/c,${home}/.config/schied/config.json`,
      `--allow-write=${home}/a/c`,
    ]);
    const parent = home.replace(/\/home$/, "");
    assertEquals(await perms(["daemon", "--state-dir=../x//y/"]), [
      `--allow-read=${parent}/x/y,${home}/.config/schied/config.json`,
      `--allow-write=${parent}/x/y`,
    ]);
    assertEquals(await perms(["relay"]), [
      `--allow-read=${stateHome}/schied-relay,${home}/.config/schied/config.json`,
      `--allow-write=${stateHome}/schied-relay`,
    ]);
    // The dry run creates nothing, even for the verbs that would.
    assertEquals(await listTree(home), []);
    assertEquals(await listTree(stateHome), []);
  });
});

Deno.test("launcher: a daemon with several relays may connect to each of them, from any source", async () => {
  await withHome(async (home, stateHome) => {
    const net = async (args: string[], env: Record<string, string> = {}) => {
      const r = await runScript(LAUNCHER, ["daemon", ...args], {
        home,
        stateHome,
        env: { SCHIED_DRY_RUN: "1", ...env },
      });
      assertEquals(r.code, 0, r.stderr);
      return r.stdout.split("\n").filter((a) => a.startsWith("--allow-net"));
    };
    const r1 = "ws://10.0.0.1:8765/#K1";
    const r2 = "wss://relay.example/#K2";
    const r3 = "ws://[::1]:9000/#K3";
    const all = ["--allow-net=127.0.0.1:7777,10.0.0.1:8765,relay.example:443,[::1]:9000"];
    assertEquals(await net(["--relay", r1, `--relay=${r2}`, "--relay", r3]), all);
    assertEquals(await net(["--relay", `${r1}, ${r2},${r3}`]), all);
    assertEquals(await net([], { SCHIED_RELAY: `${r1},${r2},${r3}` }), all);
    // A flag wins over the variable, as in schied; repeated flags are one list.
    assertEquals(await net(["--relay", r2], { SCHIED_RELAY: r1 }), [
      "--allow-net=127.0.0.1:7777,relay.example:443",
    ]);
    // The config file's comma-separated string, and the list the daemon remembered.
    await Deno.mkdir(`${home}/.config/schied`, { recursive: true });
    await Deno.writeTextFile(
      `${home}/.config/schied/config.json`,
      JSON.stringify({ version: 1, relay: `${r1},${r2},${r3}` }),
    );
    assertEquals(await net([]), all);
    await Deno.remove(`${home}/.config/schied/config.json`);
    await Deno.mkdir(`${stateHome}/schied`, { recursive: true });
    await Deno.writeTextFile(`${stateHome}/schied/relay-address`, `${r1},${r2},${r3}\n`);
    assertEquals(await net([]), all);
    // A stray comma is left to schied to report (a usage error), not to Deno.
    assertEquals(await net(["--relay", `${r1},,${r2}`]), [
      "--allow-net=127.0.0.1:7777,10.0.0.1:8765,relay.example:443",
    ]);
  });
});

Deno.test("launcher: a symlink to it in a bin dir on PATH runs schied; a copy says what is missing", async () => {
  await withHome(async (home) => {
    await Deno.mkdir(`${home}/bin`);
    await Deno.mkdir(`${home}/links`);
    // A link to a link, the second one relative: both are followed.
    await Deno.symlink(LAUNCHER, `${home}/links/schied`);
    await Deno.symlink("../links/schied", `${home}/bin/schied`);
    const r = await runScript("schied", ["--version"], { home, path: `${home}/bin` });
    assertEquals(r.code, 0, r.stderr);
    assertOk(/^schied \d+\.\d+\.\d+\n$/.test(r.stdout), r.stdout);

    await Deno.copyFile(LAUNCHER, `${home}/bin/copy`);
    await Deno.chmod(`${home}/bin/copy`, 0o755);
    const copy = await runScript(`${home}/bin/copy`, ["--version"], { home });
    assertEquals(copy.code, 1);
    assertOk(/^schied: error: cannot find the schied checkout/.test(copy.stderr), copy.stderr);
    assertOk(copy.stderr.includes("schied: hint: "), copy.stderr);
    const root = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
    const found = await runScript(`${home}/bin/copy`, ["--version"], {
      home,
      env: { SCHIED_CHECKOUT: root },
    });
    assertEquals(found.code, 0, found.stderr);
  });
});

Deno.test("scripts/install --prefix links bin/schied, is idempotent, warns off PATH, and --uninstall removes it", async () => {
  await withHome(async (home) => {
    const prefix = `${home}/prefix`;
    const first = await runScript(INSTALL, ["--prefix", prefix], { home });
    assertEquals(first.code, 0, first.stderr);
    assertOk(first.stdout.includes(`linked ${prefix}/bin/schied -> ${LAUNCHER}`), first.stdout);
    assertOk(first.stdout.includes("--uninstall"), first.stdout);
    assertOk(first.stderr.includes(`warning: ${prefix}/bin is not on your PATH`), first.stderr);
    assertEquals(await Deno.readLink(`${prefix}/bin/schied`), LAUNCHER);

    const again = await runScript(INSTALL, [`--prefix=${prefix}`], { home, path: `${prefix}/bin` });
    assertEquals(again.code, 0, again.stderr);
    assertOk(again.stdout.includes("already installed"), again.stdout);
    assertEquals(again.stderr, "", "on PATH: no warning");
    const v = await runScript("schied", ["--version"], { home, path: `${prefix}/bin` });
    assertEquals(v.code, 0, v.stderr);

    const gone = await runScript(INSTALL, ["--prefix", prefix, "--uninstall"], { home });
    assertEquals(gone.code, 0, gone.stderr);
    assertOk(gone.stdout.includes(`removed ${prefix}/bin/schied`), gone.stdout);
    assertEquals(await listTree(prefix), ["bin"]);
    const twice = await runScript(INSTALL, ["--prefix", prefix, "--uninstall"], { home });
    assertEquals(twice.code, 0, twice.stderr);
    assertOk(twice.stdout.includes("nothing to do"), twice.stdout);

    // A file of someone else's in the way: neither overwritten nor removed.
    await Deno.writeTextFile(`${prefix}/bin/schied`, "#!/bin/sh\n");
    const blocked = await runScript(INSTALL, ["--prefix", prefix], { home });
    assertEquals(blocked.code, 1);
    assertOk(/^schied: error: .*not a link to a schied launcher/.test(blocked.stderr));
    const kept = await runScript(INSTALL, ["--prefix", prefix, "--uninstall"], { home });
    assertEquals(kept.code, 1);
    assertEquals(await Deno.readTextFile(`${prefix}/bin/schied`), "#!/bin/sh\n");

    const bad = await runScript(INSTALL, ["--frob"], { home });
    assertEquals(bad.code, 2);
    assertOk(/^schied: error: unknown argument "--frob"\nschied: hint: /.test(bad.stderr));
  });
});

Deno.test("scripts/install without --prefix links ~/.local/bin/schied", async () => {
  await withHome(async (home) => {
    const r = await runScript(INSTALL, [], { home, path: `${home}/.local/bin` });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(await Deno.readLink(`${home}/.local/bin/schied`), LAUNCHER);
    assertOk(r.stdout.includes("uninstall with: ") && !r.stdout.includes("--prefix"), r.stdout);
    const u = await runScript(INSTALL, ["--uninstall"], { home });
    assertEquals(u.code, 0, u.stderr);
    assertEquals(await listTree(home), [".local", ".local/bin"]);
  });
});

Deno.test("launcher: files — send --file reads that file, files get -o writes that file, listen --save-dir that dir; a comma is refused", async () => {
  await withHome(async (home, stateHome) => {
    const perms = async (args: string[]) => {
      const r = await runScript(LAUNCHER, args, { home, stateHome, env: { SCHIED_DRY_RUN: "1" } });
      assertEquals(r.code, 0, r.stderr);
      return r.stdout.split("\n").filter((a) =>
        a.startsWith("--allow-read") || a.startsWith("--allow-write")
      );
    };
    const state = `${stateHome}/schied`, conf = `${home}/.config/schied/config.json`;
    assertEquals(await perms(["send", "bob", "--file", "x/../report.pdf"]), [
      `--allow-read=${state},${home}/report.pdf,${conf}`,
      `--allow-write=${state}`,
    ]);
    assertEquals(await perms(["files", "get", "ID", "-o", "/tmp/out.bin"]), [
      `--allow-read=${state},${conf}`,
      `--allow-write=${state},/tmp/out.bin`,
    ]);
    assertEquals(await perms(["listen", "--save-dir=dl"]), [
      `--allow-read=${state},${home}/dl,${conf}`,
      `--allow-write=${state},${home}/dl`,
    ]);
    const r = await runScript(LAUNCHER, ["send", "bob", "--file", "a,b"], {
      home,
      stateHome,
      env: { SCHIED_DRY_RUN: "1" },
    });
    assertEquals(r.code, 2);
    assertOk(/^schied: error: .*comma.*\nschied: hint: /.test(r.stderr), r.stderr);
  });
});

Deno.test("launcher: a relay node may reach its Redis by address or by host name (node-redis looks the name up)", async () => {
  await withHome(async (home, stateHome) => {
    const net = async (cluster: string) => {
      const r = await runScript(LAUNCHER, ["relay", "--cluster", cluster], {
        home,
        stateHome,
        env: { SCHIED_DRY_RUN: "1" },
      });
      assertEquals(r.code, 0, r.stderr);
      return r.stdout.split("\n").filter((a) => a.startsWith("--allow-net"));
    };
    assertEquals(await net("redis://10.0.0.5:6380"), [
      "--allow-net=127.0.0.1:8765,127.0.0.1:8766,10.0.0.5:6380",
    ]);
    assertEquals(await net("redis://redis.internal:6380"), [
      "--allow-net=127.0.0.1:8765,127.0.0.1:8766,redis.internal:6380,redis.internal",
    ]);
    // Credentials are no part of the address Deno grants.
    assertEquals(await net("redis://app:s3cret@10.0.0.5:6380"), [
      "--allow-net=127.0.0.1:8765,127.0.0.1:8766,10.0.0.5:6380",
    ]);
  });
});

Deno.test("launcher: a file given through a symbolic link is granted with its target; a path with a line break is refused", async () => {
  await withHome(async (home, stateHome) => {
    await Deno.writeTextFile(`${home}/real.txt`, "hi");
    await Deno.symlink(`${home}/real.txt`, `${home}/link.txt`);
    const r = await runScript(LAUNCHER, ["send", "bob", "--file", `${home}/link.txt`], {
      home,
      stateHome,
      env: { SCHIED_DRY_RUN: "1" },
    });
    assertEquals(r.code, 0, r.stderr);
    const read = r.stdout.split("\n").find((a) => a.startsWith("--allow-read="))!;
    assertOk(read.split(/[=,]/).includes(`${home}/link.txt`), read);
    assertOk(read.split(/[=,]/).includes(`${home}/real.txt`), read);
    const bad = await runScript(LAUNCHER, ["send", "bob", "--file", `${home}/a\nb`], {
      home,
      stateHome,
      env: { SCHIED_DRY_RUN: "1" },
    });
    assertEquals(bad.code, 2);
    assertOk(/^schied: error: .*line break.*\nschied: hint: /.test(bad.stderr), bad.stderr);
  });
});
