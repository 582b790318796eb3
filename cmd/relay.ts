/**
 * `schied relay`: runs the relay and prints its address.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  DEFAULT_LIMITS,
  DEFAULT_METRICS_LISTEN,
  MetricsListenError,
  type RelayLimits,
  startRelay,
} from "../relay/mod.ts";
import { defaultRelayStateDir } from "../relay/state.ts";
import { SchemaTooNewError } from "../lib/sqlite_schema.ts";
import { boolFlagOrEnv, flagOrEnv, intFlag } from "./_flags.ts";
import { untilSignal } from "./_signals.ts";
import { CliError, usage } from "./_output.ts";
import { parseRedisUrl, redactRedisUrl } from "../relay/cluster/url.ts";
import { TOKEN_RE } from "../relay/cluster/_codec.ts";

/** Limit flags: flag name → limits key, with bounds. */
const LIMIT_FLAGS: [string, keyof RelayLimits, number, number, string][] = [
  ["max-envelope", "maxEnvelope", 64, 65536, "BYTES  largest envelope accepted"],
  [
    "handshakes-per-ip",
    "handshakesPerIpPerSecond",
    1,
    1_000_000,
    "N      handshakes per second per IP",
  ],
  ["handshake-burst", "handshakeBurstPerIp", 1, 1_000_000, "N      handshake burst per IP"],
  [
    "max-pending-handshakes",
    "maxPendingHandshakes",
    1,
    1_000_000,
    "N      handshakes in progress at once",
  ],
  [
    "max-pending-handshakes-per-ip",
    "maxPendingHandshakesPerIp",
    1,
    1_000_000,
    "N      handshakes in progress from one IP",
  ],
  ["frames-per-second", "framesPerSecond", 1, 100_000_000, "N      frames per second per session"],
  ["frame-burst", "frameBurst", 1, 100_000_000, "N      frame burst per session"],
  [
    "bytes-per-second",
    "bytesPerSecond",
    65536,
    2 ** 40,
    "BYTES  per second per session (burst ×2)",
  ],
  ["max-sessions", "maxSessions", 1, 10_000_000, "N      logged-in sessions"],
  [
    "max-sessions-per-ip",
    "maxSessionsPerIp",
    1,
    10_000_000,
    "N      logged-in sessions from one IP",
  ],
  [
    "max-connections-per-ip",
    "maxConnectionsPerIp",
    1,
    10_000_000,
    "N      open connections from one IP",
  ],
  ["handshake-timeout-ms", "handshakeTimeoutMs", 100, 600_000, "MS     time to finish a handshake"],
  ["head-timeout-ms", "headTimeoutMs", 100, 600_000, "MS     time to send an HTTP request head"],
  [
    "idle-timeout",
    "idleTimeoutSeconds",
    1,
    86_400,
    "SECS   idle time before a ping; no pong closes",
  ],
  [
    "max-queue-bytes",
    "maxQueueBytes",
    65536 * 2,
    2 ** 31,
    "BYTES  queued per session; then envelopes wait",
  ],
  [
    "max-total-queue-bytes",
    "maxTotalQueueBytes",
    65536 * 2,
    2 ** 40,
    "BYTES  queued for all sessions; then envelopes wait",
  ],
  [
    "slow-reader-timeout-ms",
    "slowReaderTimeoutMs",
    100,
    3_600_000,
    "MS     a session taking no bytes is dropped",
  ],
  ["max-watches", "maxWatches", 0, 1_000_000, "N      presence watches per session"],
  ["rekey-after", "rekeyAfter", 16, 2 ** 32, "N      link records before a re-handshake"],
  [
    "rekey-after-bytes",
    "rekeyAfterBytes",
    65536,
    2 ** 40,
    "BYTES  link bytes before a re-handshake",
  ],
  [
    "key-lookups-per-ip",
    "keyLookupsPerIpPerSecond",
    1,
    1_000_000,
    "N      key lookups per second per IP (burst ×2)",
  ],
];

export const HELP = `Usage: schied relay [flags]

Runs the relay: the untrusted server that authenticates daemons, keeps the registry of
client_id → identity key, and forwards end-to-end encrypted envelopes. It stores no message.
Prints the relay address (with the relay's key) on stdout; logs JSON lines on stderr.

Flags (each also as an environment variable, e.g. --port ↔ SCHIED_PORT):
  --host HOST              listen address (default 127.0.0.1)
  --port PORT              listen port (default 8765; 0 picks a free port)
  --state-dir DIR          key and registry (default $XDG_STATE_HOME/schied-relay)
  --cert FILE, --key FILE  serve wss:// with this PEM certificate and key
  --public-host NAME       host name to print in the address (default: the listen host)
  --metrics-listen ADDR    serve Prometheus /metrics on HOST:PORT, or "off"
                           (default 127.0.0.1:8766: loopback only)
  --closed-registration    only ids already in the registry may log in
  --cluster URL            run as a node of a cluster on Redis (redis://HOST:PORT): the registry
                           and routing between nodes live there (README "Running several relays")
  --node-name NAME         this node's name in the cluster (default: random; [0-9a-z_-], ≤ 64)
  --log-ips                include client IPs in the log (off by default)
  --quiet                  log warnings only
  -h, --help               this help

Limits (over a limit: an error frame with a stable code and a close, or HTTP 429/503;
per-IP limits count an IPv6 address by its /64):
${
  LIMIT_FLAGS.map(([f, k, , , d]) => `  --${f.padEnd(29)} ${d} (default ${DEFAULT_LIMITS[k]})`)
    .join("\n")
}`;

/** Parses `--metrics-listen`: HOST:PORT ([v6]:PORT), or "off". */
function parseListen(text: string | undefined): { host: string; port: number } | null {
  if (text === undefined) return { ...DEFAULT_METRICS_LISTEN };
  if (text === "off") return null;
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) {
    throw usage(`--metrics-listen must be HOST:PORT or "off", got "${text}"`);
  }
  const host = m[1]!.startsWith("[") ? m[1]!.slice(1, -1) : m[1]!;
  return { host, port: Number(m[2]) };
}

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      host: { type: "string" },
      port: { type: "string" },
      "state-dir": { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      "public-host": { type: "string" },
      "metrics-listen": { type: "string" },
      "closed-registration": { type: "boolean" },
      cluster: { type: "string" },
      "node-name": { type: "string" },
      "log-ips": { type: "boolean" },
      quiet: { type: "boolean" },
      help: { type: "boolean", short: "h" },
      ...Object.fromEntries(LIMIT_FLAGS.map(([f]) => [f, { type: "string" as const }])),
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length > 0) {
    throw usage(`schied relay takes no arguments, got "${positionals[0]}"`);
  }
  const limits: Partial<RelayLimits> = {};
  for (const [flag, key, min, max] of LIMIT_FLAGS) {
    const n = intFlag(flag, flagOrEnv(values, flag, env), min, max);
    if (n !== undefined) limits[key] = n;
  }
  const port = intFlag("port", flagOrEnv(values, "port", env), 0, 65535) ?? 8765;
  const cert = flagOrEnv(values, "cert", env);
  const key = flagOrEnv(values, "key", env);
  if ((cert === undefined) !== (key === undefined)) throw usage("--cert and --key go together");
  const stateDir = flagOrEnv(values, "state-dir", env) ?? defaultRelayStateDir(env);
  const metricsListen = parseListen(flagOrEnv(values, "metrics-listen", env));
  let tls: { cert: string; key: string } | undefined;
  if (cert && key) {
    try {
      tls = { cert: await Deno.readTextFile(cert), key: await Deno.readTextFile(key) };
    } catch (e) {
      throw new CliError(`cannot read TLS files: ${(e as Error).message}`);
    }
  }
  const clusterUrl = flagOrEnv(values, "cluster", env);
  const nodeName = flagOrEnv(values, "node-name", env);
  // Named as the user gave it: the flag, or the variable.
  const clusterFrom = typeof values.cluster === "string" ? "--cluster" : "SCHIED_CLUSTER";
  if (clusterUrl !== undefined) {
    try {
      parseRedisUrl(clusterUrl);
    } catch (e) {
      throw usage((e as Error).message.replace(/^Cannot parse cluster address/, clusterFrom));
    }
  }
  if (nodeName !== undefined && !TOKEN_RE.test(nodeName)) {
    throw usage(`--node-name must be 1 to 64 of [0-9a-z_-], got "${nodeName}"`);
  }
  if (nodeName !== undefined && clusterUrl === undefined) {
    throw usage("--node-name needs --cluster");
  }
  let relay;
  try {
    relay = await startRelay({
      host: flagOrEnv(values, "host", env) ?? "127.0.0.1",
      port,
      stateDir,
      tls,
      publicHost: flagOrEnv(values, "public-host", env),
      openRegistration: !boolFlagOrEnv(values, "closed-registration", env),
      logIps: boolFlagOrEnv(values, "log-ips", env),
      quiet: boolFlagOrEnv(values, "quiet", env),
      limits,
      metricsListen,
      ...(clusterUrl ? { cluster: { url: clusterUrl, node: nodeName } } : {}),
    });
  } catch (e) {
    if (e instanceof SchemaTooNewError) throw new CliError(e.message, 1);
    if (e instanceof MetricsListenError) {
      throw new CliError(
        e.message,
        1,
        "choose another with --metrics-listen HOST:PORT (port 0: any), or --metrics-listen off",
      );
    }
    if (e instanceof Deno.errors.AddrInUse) {
      throw new CliError(`port ${port} is in use`, 1, "choose another with --port, or 0 for any");
    }
    if (
      clusterUrl && /Redis at .* did not answer|ECONNREFUSED|Connection refused/.test(String(e))
    ) {
      throw new CliError(
        `cannot reach the cluster's Redis at ${redactRedisUrl(clusterUrl)}: ${
          (e as Error).message
        }`,
        1,
        `start redis-server there (README "Running several relays"), or check ${clusterFrom}`,
      );
    }
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new CliError(
        `not allowed: ${(e as Error).message}`,
        1,
        "run schied through scripts/schied, which grants the relay its state dir",
      );
    }
    throw e;
  }
  console.log(relay.address);
  await untilSignal();
  await relay.close();
  return 0;
}
