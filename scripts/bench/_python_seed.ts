/**
 * The Python seed relay (python_seed/relay.py) as a benchmark server, and its load client: npm
 * `ws` (TCP_NODELAY), the seed's one-round-trip handshake and login through WebCrypto, then one
 * AES-256-GCM record per message through `node:crypto`, as schied's link layer seals them.
 * The wire format is in python_seed/README.md.
 *
 * @module
 */
import { createCipheriv, createDecipheriv, createHash } from "node:crypto";
import WebSocket from "ws";
import { pumpLines } from "../../tests/harness.ts";
import type { BenchClient, BenchServer } from "./_servers.ts";
import { commandText } from "./_servers.ts";

const RELAY_PY = new URL("./python_seed/relay.py", import.meta.url).pathname;

/**
 * Debian's Python, which sees the python3-* packages (a pyenv `python3` on PATH does not);
 * SCHIED_BENCH_PYTHON overrides it.
 */
export const DEBIAN_PYTHON = Deno.env.get("SCHIED_BENCH_PYTHON") ?? "/usr/bin/python3";

const enc = new TextEncoder();
const cat = (...parts: Uint8Array[]): Uint8Array<ArrayBuffer> => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), o += p.length);
  return out;
};

function seal(key: Uint8Array, plain: Uint8Array): Uint8Array {
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const c = createCipheriv("aes-256-gcm", key, nonce);
  return cat(nonce, c.update(plain), c.final(), c.getAuthTag());
}

function open(key: Uint8Array, rec: Uint8Array): Uint8Array {
  const d = createDecipheriv("aes-256-gcm", key, rec.subarray(0, 12));
  d.setAuthTag(rec.subarray(rec.length - 16));
  return cat(d.update(rec.subarray(12, rec.length - 16)), d.final());
}

/**
 * Makes sure Debian's python3 has websockets and cryptography, installing the Debian packages
 * when they are missing. Returns null when ready, else why not (for the row's notes).
 */
export async function ensurePythonSeed(log: (s: string) => void): Promise<string | null> {
  const probe = () =>
    commandText(DEBIAN_PYTHON, ["-c", "import websockets, cryptography; print('ok')"]);
  if ((await probe())?.trim() === "ok") return null;
  log("python_seed: installing python3-websockets python3-cryptography with apt-get …");
  const apt = async (args: string[]) => {
    const root = (await commandText("id", ["-u"]))?.trim() === "0";
    const [cmd, pre] = root ? ["apt-get", []] : ["sudo", ["-n", "apt-get"]];
    const p = new Deno.Command(cmd, {
      args: [...pre, ...args],
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(120_000),
    });
    try {
      const out = await p.output();
      return out.success ? "" : new TextDecoder().decode(out.stderr).trim().split("\n").at(-1)!;
    } catch (e) {
      return (e as Error).message;
    }
  };
  const pkgs = ["install", "-y", "--no-install-recommends", "python3-websockets"];
  pkgs.push("python3-cryptography");
  let err = await apt(pkgs);
  if (err) err = (await apt(["update"])) || await apt(pkgs);
  if ((await probe())?.trim() === "ok") return null;
  return `cannot run the Python seed relay: ${DEBIAN_PYTHON} cannot import websockets and ` +
    `cryptography, and ${err ? `apt-get failed: ${err}` : "apt-get installed them, in vain"}`;
}

/** Starts relay.py on a free port; `maxSeconds` bounds its life. */
export async function startPythonSeed(maxSeconds: number): Promise<BenchServer> {
  const child = new Deno.Command(DEBIAN_PYTHON, {
    args: [RELAY_PY, "--max-seconds", String(maxSeconds)],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const hello = await new Promise<{ port: number; key: string }>((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error("python seed relay did not start in 30 s")),
      30_000,
    );
    pumpLines(child.stdout, (l) => (clearTimeout(t), resolve(JSON.parse(l)))).catch(reject);
    child.status.then((s) => reject(new Error(`python seed relay exited with ${s.code}`)));
  });
  const url = `ws://127.0.0.1:${hello.port}/`;
  const relayKey = Uint8Array.fromHex(hello.key);
  const kill = (sig: Deno.Signal) => {
    try {
      child.kill(sig);
    } catch { /* gone */ }
  };
  return {
    name: "python",
    pid: child.pid,
    connect: (onPayload) => connectSeed(url, relayKey, onPayload),
    counters: () => Promise.resolve(null),
    async stop() {
      kill("SIGTERM");
      await child.stdin.close().catch(() => {});
      await child.status;
    },
    kill: () => kill("SIGKILL"),
  };
}

const subtle = crypto.subtle;
const buf = (b: Uint8Array) => b as Uint8Array<ArrayBuffer>;
const raw = async (k: CryptoKey) => new Uint8Array(await subtle.exportKey("raw", k));

async function connectSeed(
  url: string,
  relayKey: Uint8Array,
  onPayload: (p: Uint8Array) => void,
): Promise<BenchClient> {
  const identity = await subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const eph = await subtle.generateKey({ name: "X25519" }, true, ["deriveBits"]) as CryptoKeyPair;
  const idPub = await raw(identity.publicKey);
  const id = new Uint8Array(createHash("sha256").update(idPub).digest()).subarray(0, 16);
  const hello = cat(id, idPub, await raw(eph.publicKey));
  const relayPub = await subtle.importKey("raw", buf(relayKey), { name: "Ed25519" }, false, [
    "verify",
  ]);
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.binaryType = "nodebuffer";
  let c2r!: Uint8Array, r2c!: Uint8Array, step = 0;
  return await new Promise<BenchClient>((resolve, reject) => {
    const fail = (e: Error) => (ws.terminate(), reject(e));
    const timer = setTimeout(() => fail(new Error("seed handshake timed out")), 10_000);
    ws.on("error", fail);
    ws.on("open", () => ws.send(hello));
    ws.on("message", async (data: Buffer) => {
      const m = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      if (step === 2) return onPayload(open(r2c, m).subarray(16));
      if (step === 0) {
        step = 1;
        const [relayEph, challenge, sig] = [m.slice(0, 32), m.slice(32, 64), m.slice(64, 128)];
        const transcript = cat(hello, relayEph, challenge);
        const signed = cat(enc.encode("seed-hs1"), transcript);
        if (!await subtle.verify("Ed25519", relayPub, sig, signed)) {
          return fail(new Error("the seed relay's signature does not verify"));
        }
        const peer = await subtle.importKey("raw", relayEph, { name: "X25519" }, false, []);
        const shared = await subtle.deriveBits(
          { name: "X25519", public: peer },
          eph.privateKey,
          256,
        );
        const ikm = await subtle.importKey("raw", shared, "HKDF", false, ["deriveBits"]);
        const salt = new Uint8Array(createHash("sha256").update(transcript).digest());
        const okm = new Uint8Array(
          await subtle.deriveBits(
            { name: "HKDF", hash: "SHA-256", salt, info: enc.encode("seed keys") },
            ikm,
            512,
          ),
        );
        [c2r, r2c] = [okm.slice(0, 32), okm.slice(32)];
        const login = cat(enc.encode("seed-login"), challenge, relayEph);
        ws.send(
          seal(c2r, new Uint8Array(await subtle.sign("Ed25519", identity.privateKey, login))),
        );
      } else if (step === 1) {
        if (new TextDecoder().decode(open(r2c, m)) !== "ok") return fail(new Error("no ok"));
        step = 2;
        clearTimeout(timer);
        resolve({
          id,
          failures: 0,
          unanswered: 0,
          send: (to, payload) => ws.send(seal(c2r, cat(to, payload))),
          close: () =>
            new Promise<void>((r) => {
              if (ws.readyState === WebSocket.CLOSED) return r();
              ws.once("close", () => r());
              ws.close();
            }),
        });
      }
    });
  });
}
