/**
 * contrib/systemd: `systemd-analyze verify` accepts both units, with ExecStart pointed at this
 * checkout's launcher (the relay) and at what scripts/install puts into a bin dir (the daemon);
 * the relay unit has the hardening it promises, and `systemd-analyze security` rates it.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { ROOT } from "../harness.ts";
import { INSTALL, LAUNCHER, runScript } from "./_run.ts";

const UNITS = `${ROOT}/contrib/systemd`;

/** Whether systemd-analyze is installed. */
async function hasAnalyze(): Promise<boolean> {
  const r = await new Deno.Command("sh", { args: ["-c", "command -v systemd-analyze"] }).output();
  return r.success;
}

/** Runs systemd-analyze with `args`; returns its exit code and output. */
async function analyze(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command("systemd-analyze", {
    args,
    env: { SYSTEMD_LOG_COLOR: "0", SYSTEMD_PAGER: "", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Copies a unit into `dir` with `from` replaced by `to`; returns the copy's path. */
async function unitWith(dir: string, name: string, from: string, to: string): Promise<string> {
  const text = await Deno.readTextFile(`${UNITS}/${name}`);
  assertOk(text.includes(from), `${name} runs ${from}`);
  await Deno.writeTextFile(`${dir}/${name}`, text.replaceAll(from, to));
  return `${dir}/${name}`;
}

/** The settings of a unit file (comments left out), as [key, value] pairs. */
async function settings(name: string): Promise<[string, string][]> {
  const text = await Deno.readTextFile(`${UNITS}/${name}`);
  return text.split("\n").filter((l) => /^[A-Za-z]+=/.test(l)).map((l) => {
    const eq = l.indexOf("=");
    return [l.slice(0, eq), l.slice(eq + 1)];
  });
}

Deno.test("systemd: systemd-analyze verify accepts both units (skipped only without systemd-analyze)", async () => {
  if (!(await hasAnalyze())) {
    console.log("SKIPPED: systemd-analyze is not installed (Debian package systemd)");
    return;
  }
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "schied-systemd-" }));
  try {
    const relay = await unitWith(
      dir,
      "schied-relay.service",
      "/opt/schied/scripts/schied",
      LAUNCHER,
    );
    const r = await analyze(["verify", relay]);
    assertEquals([r.code, r.stderr], [0, ""], "relay unit");

    // The daemon's unit runs what scripts/install links into a bin dir.
    const inst = await runScript(INSTALL, ["--prefix", `${dir}/prefix`], { home: dir });
    assertEquals(inst.code, 0, inst.stderr);
    const daemon = await unitWith(
      dir,
      "schied-daemon.service",
      "%h/.local/bin/schied",
      `${dir}/prefix/bin/schied`,
    );
    await Deno.mkdir(`${dir}/run`, { mode: 0o700 });
    const d = await analyze(["--user", "verify", daemon], { XDG_RUNTIME_DIR: `${dir}/run` });
    assertEquals([d.code, d.stderr], [0, ""], "daemon user unit");

    // verify does look at ExecStart: a unit whose binary is missing fails.
    const missing = await unitWith(
      dir,
      "schied-relay.service",
      "/opt/schied/scripts/schied",
      `${dir}/nope/schied`,
    );
    const m = await analyze(["verify", missing]);
    assertOk(m.code !== 0 && m.stderr.includes("is not executable"), m.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("systemd: the relay unit is hardened, and MemoryDenyWriteExecute stays off for V8", async () => {
  const s = await settings("schied-relay.service");
  const get = (k: string) => s.filter(([key]) => key === k).map(([, v]) => v);
  const want: Record<string, string> = {
    DynamicUser: "yes",
    StateDirectory: "schied-relay",
    ProtectSystem: "strict",
    ProtectHome: "yes",
    NoNewPrivileges: "yes",
    PrivateTmp: "yes",
    RestrictAddressFamilies: "AF_INET AF_INET6 AF_UNIX",
    CapabilityBoundingSet: "",
    SystemCallFilter: "@system-service",
    Restart: "on-failure",
  };
  for (const [k, v] of Object.entries(want)) assertEquals(get(k), [v], k);
  assertOk(Number(get("LimitNOFILE")[0]) >= 65536, "LimitNOFILE");
  assertEquals(get("MemoryDenyWriteExecute"), [], "MemoryDenyWriteExecute is not set");
  const text = await Deno.readTextFile(`${UNITS}/schied-relay.service`);
  assertOk(/^# MemoryDenyWriteExecute=.*V8/m.test(text), "a comment says why it is off");

  const d = await settings("schied-daemon.service");
  assertOk(d.some(([k, v]) => k === "ExecStart" && v.startsWith("%h/")), "daemon: %h paths");
  assertOk(d.some(([k, v]) => k === "Restart" && v === "on-failure"), "daemon: Restart");
  assertOk(d.some(([k, v]) => k === "WantedBy" && v === "default.target"), "a user unit");
});

Deno.test("systemd: systemd-analyze security rates the relay unit's exposure at most 2.5 (skipped only without systemd-analyze)", async () => {
  if (!(await hasAnalyze())) {
    console.log("SKIPPED: systemd-analyze is not installed (Debian package systemd)");
    return;
  }
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "schied-systemd-" }));
  try {
    const relay = await unitWith(
      dir,
      "schied-relay.service",
      "/opt/schied/scripts/schied",
      LAUNCHER,
    );
    const r = await analyze(["security", "--offline=yes", "--no-pager", relay]);
    const m = /Overall exposure level for schied-relay\.service: ([\d.]+)/.exec(r.stdout);
    assertOk(m, `${r.stdout}\n${r.stderr}`);
    assertOk(Number(m[1]) <= 2.5, `exposure ${m[1]}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
