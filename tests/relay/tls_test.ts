/**
 * The relay over TLS: `schied relay --cert --key` serves wss:// and https:// with a certificate
 * made by openssl for 127.0.0.1; curl and a LinkClient (npm ws, in a child process that trusts the
 * test certificate through NODE_EXTRA_CA_CERTS) reach it, and nothing reaches it without that
 * trust. The launcher grants read access to exactly the cert and key files.
 *
 * Needs `openssl` and `curl` on PATH: the test fails (it does not skip) without them.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { ROOT, SCHIED, startRelayProcess } from "../harness.ts";
import { startDaemonProcess, waitOnline } from "../daemon_harness.ts";

const dec = new TextDecoder();

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function requireTool(name: string): Promise<void> {
  const r = await run("sh", ["-c", `command -v ${name}`]);
  assertOk(r.code === 0, `tls_test needs '${name}' on PATH; install it (it is not skipped)`);
}

/**
 * A self-signed certificate for IP 127.0.0.1. basicConstraints CA:FALSE makes it a leaf: the
 * rustls verifier under Deno refuses a CA certificate as a server's own (CaUsedAsEndEntity),
 * which is what openssl's default CA:TRUE would give.
 */
async function makeCert(): Promise<{ dir: string; cert: string; key: string }> {
  await requireTool("openssl");
  const dir = await Deno.makeTempDir({ prefix: "schied-tls-" });
  const [cert, key] = [`${dir}/cert.pem`, `${dir}/key.pem`];
  const r = await run("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
    ...["-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
    ...["-addext", "basicConstraints=critical,CA:FALSE", "-keyout", key, "-out", cert],
  ]);
  assertEquals(r.code, 0, `openssl failed: ${r.stderr}`);
  return { dir, cert, key };
}

/** A child process that logs in with a fresh identity over `address`; prints the outcome. */
const PROBE = `
import { connectClient } from "${ROOT}/tests/harness.ts";
import { clientIdFromPublicKey, formatId } from "${ROOT}/protocol/identity.ts";
import { generateDh, randomSecret, signingKeyFromSeed } from "${ROOT}/protocol/_crypto.ts";
const identity = await signingKeyFromSeed(randomSecret());
try {
  const link = await connectClient(Deno.args[0], { identity, linkKey: await generateDh() });
  const want = formatId(clientIdFromPublicKey(identity.publicKey));
  console.log(JSON.stringify({ ok: true, id: formatId(link.id), want }));
  await link.close();
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: e.message }));
}
Deno.exit(0);
`;

async function probeLogin(dir: string, address: string, env: Record<string, string>) {
  const probe = `${dir}/probe.ts`;
  await Deno.writeTextFile(probe, PROBE);
  const port = new URL(address).port;
  const r = await run(Deno.execPath(), [
    ...["run", "--quiet", "--no-prompt", "--config", `${ROOT}/deno.json`],
    ...[`--allow-net=127.0.0.1:${port}`, "--allow-env", probe, address],
  ], { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...env });
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

Deno.test("tls: the relay serves wss:// and https:// with --cert/--key; clients verify it", async () => {
  await requireTool("curl");
  const { dir, cert, key } = await makeCert();
  const relay = await startRelayProcess({ args: ["--cert", cert, "--key", key] });
  try {
    assertOk(relay.address.startsWith("wss://127.0.0.1:"), `address: ${relay.address}`);
    assertOk(relay.log.some((l) => /"tls":true/.test(l)), `log: ${relay.log.join("\n")}`);
    const port = new URL(relay.address).port;
    const https = `https://127.0.0.1:${port}`;

    const ok = await run("curl", ["-sS", "--max-time", "10", "--cacert", cert, `${https}/healthz`]);
    assertEquals(ok.code, 0, ok.stderr);
    assertEquals(JSON.parse(ok.stdout), { ok: true });
    // Without the certificate curl refuses (60: peer certificate cannot be authenticated);
    // plain http:// on the TLS port gets no answer.
    const untrusted = await run("curl", ["-sS", "--max-time", "10", `${https}/healthz`]);
    assertEquals(untrusted.code, 60, untrusted.stderr);
    const plain = await run("curl", [
      "-sS",
      "--max-time",
      "10",
      `http://127.0.0.1:${port}/healthz`,
    ]);
    assertOk(plain.code !== 0 && !plain.stdout.includes('"ok"'), `plain http: ${plain.stdout}`);

    // A LinkClient logs in over wss:// when it trusts the certificate…
    const trusted = await probeLogin(dir, relay.address, { NODE_EXTRA_CA_CERTS: cert });
    assertEquals(trusted.ok, true, `login over wss://: ${trusted.error}`);
    assertEquals(trusted.id, trusted.want);
    const keys = await run("curl", ["-sS", "--cacert", cert, `${https}/v1/keys/${trusted.id}`]);
    assertEquals(JSON.parse(keys.stdout).id, trusted.id, "the relay registered the login");
    // …and fails the TLS handshake when it does not.
    const refused = await probeLogin(dir, relay.address, {});
    assertEquals(refused.ok, false);
    assertOk(/certificate/i.test(refused.error), `error: ${refused.error}`);
  } finally {
    assertEquals(await relay.stop(), 0);
  }
});

Deno.test("tls: a daemon started through the launcher goes online over wss://", async () => {
  const { cert, key } = await makeCert();
  const relay = await startRelayProcess({ args: ["--cert", cert, "--key", key] });
  const d = await startDaemonProcess({
    relay: relay.address,
    env: { NODE_EXTRA_CA_CERTS: cert },
  });
  try {
    await waitOnline(d);
    assertEquals((await d.api.status()).relay.address, relay.address);
  } finally {
    assertEquals(await d.stop(), 0);
    assertEquals(await relay.stop(), 0);
  }
});

Deno.test("tls: unreadable TLS files are an error (exit 1) with the reason", async () => {
  const dir = await Deno.makeTempDir({ prefix: "schied-tls-" });
  const r = await run(SCHIED, [
    ...["relay", "--port", "0", "--state-dir", `${dir}/state`],
    ...["--cert", `${dir}/missing-cert.pem`, "--key", `${dir}/missing-key.pem`],
  ], { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" });
  assertEquals(r.code, 1, r.stderr);
  assertOk(/^schied: error: cannot read TLS files: .*missing-cert\.pem/m.test(r.stderr), r.stderr);
});

Deno.test("tls: the launcher grants read access to the cert and key files, nothing beyond", async () => {
  const { dir, cert, key } = await makeCert();
  const stateDir = await Deno.makeTempDir({ prefix: "schied-relay-" });
  const real = await Deno.realPath(stateDir);
  const dry = async (args: string[], env: Record<string, string> = {}) => {
    const r = await run(SCHIED, ["relay", "--state-dir", stateDir, ...args], {
      SCHIED_DRY_RUN: "1",
      XDG_CONFIG_HOME: "/nonexistent-config", // the config file it may read, too
      ...env,
    });
    assertEquals(r.code, 0, r.stderr);
    return r.stdout.trim().split("\n").filter((a) => a.startsWith("--allow-"));
  };
  const forms = [
    await dry(["--cert", cert, "--key", key]),
    await dry([`--cert=${cert}`, `--key=${key}`]),
    await dry([], { SCHIED_CERT: cert, SCHIED_KEY: key }),
  ];
  for (const perms of forms) {
    assertOk(
      perms.includes(
        `--allow-read=${real},${cert},${key},/nonexistent-config/schied/config.json`,
      ),
      `read: ${perms}`,
    );
    assertOk(perms.includes(`--allow-write=${real}`), `write: ${perms}`);
    assertOk(!perms.some((p) => p === "--allow-all" || p.startsWith("--allow-run")), `${perms}`);
    assertOk(!perms.some((p) => /^--allow-(read|write)$/.test(p)), `unbounded: ${perms}`);
  }

  // A process with exactly those permissions may read the cert and key, not their neighbours.
  const neighbour = `${dir}/neighbour.pem`;
  await Deno.writeTextFile(neighbour, "not granted");
  const probe = `${dir}/perm_probe.ts`;
  await Deno.writeTextFile(
    probe,
    `const q = (path: string, name: "read" | "write") =>
  Deno.permissions.querySync({ name, path }).state;
console.log(JSON.stringify(Deno.args.map((p) => [q(p, "read"), q(p, "write")])));`,
  );
  const readPerm = forms[0]!.filter((p) => /^--allow-(read|write)=/.test(p));
  const r = await run(Deno.execPath(), [
    ...["run", "--quiet", "--no-prompt", ...readPerm, probe],
    ...[cert, key, neighbour, dir, "/etc/passwd", `${real}/x`],
  ]);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(JSON.parse(r.stdout), [
    ["granted", "prompt"],
    ["granted", "prompt"],
    ["prompt", "prompt"],
    ["prompt", "prompt"],
    ["prompt", "prompt"],
    ["granted", "granted"],
  ]);
});
