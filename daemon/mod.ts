/**
 * The daemon: the user agent and the only holder of secrets. It keeps the identity, an
 * authenticated session with the relay, end-to-end sessions with peers, a durable outbox and a
 * journal, and serves the local API on loopback.
 *
 * @example
 * ```ts
 * const d = await startDaemon({ stateDir, relay: "ws://127.0.0.1:8765/#…", apiPort: 7777 });
 * console.log(d.id, d.apiUrl);
 * await d.close();
 * ```
 * @module
 */
import type { DatabaseSync } from "node:sqlite";
import { type ApiServer, serveApi } from "../api/mod.ts";
import type { ServerEvent } from "../lib/net/mod.ts";
import { createToken, writeTokenFiles } from "../api/token.ts";
import { formatId } from "../protocol/mod.ts";
import { ensurePrivateDir, ensurePrivateFile, writeFileAtomic } from "../lib/private_fs.ts";
import type { Renamed } from "./_migrations.ts";
import { DB_FILE, openDb, walSync } from "./db.ts";
import { writeRelayAddress } from "./init.ts";
import { Engine, type EngineOptions } from "./engine.ts";
import { DEFAULT_FILE_QUOTA_BYTES, DEFAULT_MAX_FILE_BYTES } from "./files.ts";
import { type KeyFile, Keystore } from "./keystore.ts";
import { lockStateDir } from "./lock.ts";
import { Sealer } from "./sealer.ts";
import { adoptRotation } from "./rotation.ts";
import { COUNTS_MS, LifecycleLog, type LogFormat } from "./lifecycle_log.ts";
import { API_ADDRESS_FILE } from "./state_dir.ts";

export { defaultStateDir } from "./state_dir.ts";
export { type InitResult, initStateDir } from "./init.ts";
export { Keystore, KeystoreError } from "./keystore.ts";
export { lockStateDir, StateDirLocked } from "./lock.ts";

/** How to run a daemon. */
export interface DaemonOptions {
  stateDir: string;
  /** Relay address; remembered in the state dir after the first run. */
  relay?: string;
  /** Loopback host for the API (default 127.0.0.1). */
  apiHost?: string;
  /** Allows a non-loopback `apiHost` (an explicit choice: see serveApi). */
  apiNonLoopback?: boolean;
  /** API port (default 7777; 0 picks a free one). */
  apiPort?: number;
  /** Passphrase sealing the identity and the data key (optional). */
  passphrase?: string;
  /** Origins allowed to call the API (empty by default: browsers are refused). */
  originAllowlist?: string[];
  /** Where lifecycle lines go (connecting, online, offline, counts); none by default. */
  log?: { write: (line: string) => void; format: LogFormat };
  /** Largest file sent or taken, and each peer's quota on this disk (defaults in files.ts). */
  files?: { maxFileBytes?: number; quotaBytes?: number };
  /** Engine knobs (tests). */
  engine?: Partial<Pick<EngineOptions, "giveUpMs" | "journalRetention" | "initialBackoffMs">>;
}

/** A running daemon. */
export interface RunningDaemon {
  id: string;
  apiUrl: string;
  token: string;
  engine: Engine;
  close(): Promise<void>;
}

/** Starts a daemon: keys (created on first run), database, relay connection, API. */
export async function startDaemon(o: DaemonOptions): Promise<RunningDaemon> {
  await ensurePrivateDir(o.stateDir);
  // Before anything in the dir is written: one daemon per state dir (StateDirLocked).
  const lock = lockStateDir(o.stateDir);
  let db: DatabaseSync | undefined;
  const wal = walSync(o.stateDir);
  let server: ApiServer | undefined;
  let engine: Engine;
  let keys: KeyFile;
  let token: string;
  const renamed: Renamed[] = [];
  try {
    const opened = await Keystore.open(o.stateDir, { passphrase: o.passphrase, create: true });
    keys = opened.keys;
    const sealer = new Sealer(keys.dataKey);
    await ensurePrivateFile(`${o.stateDir}/${DB_FILE}`);
    db = openDb(o.stateDir, sealer, { groupSync: true, onRenamed: (r) => renamed.push(...r) });
    // An `id --rotate` made while no daemon ran: its contacts are told now (rotation.ts).
    await adoptRotation(db, sealer, keys, Date.now());
    engine = new Engine({
      db,
      sealer,
      durable: () => wal.sync(),
      keystore: opened.store,
      keys,
      relay: o.relay,
      files: {
        dir: `${o.stateDir}/files`,
        maxFileBytes: o.files?.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
        quotaBytes: o.files?.quotaBytes ?? DEFAULT_FILE_QUOTA_BYTES,
      },
      ...o.engine,
    });
    // Every relay of the list, for the launcher's permissions (scripts/schied).
    const relays = engine.status().relay.relays ?? [];
    if (relays.length > 0) await writeRelayAddress(o.stateDir, relays.join(","));
    // A fresh token at every start: a leaked one dies with the daemon.
    token = createToken();
    await writeTokenFiles(o.stateDir, token);
    server = serveApi({
      service: engine,
      token,
      port: o.apiPort ?? 7777,
      hostname: o.apiHost ?? "127.0.0.1",
      allowNonLoopback: o.apiNonLoopback ?? false,
      originAllowlist: o.originAllowlist ?? [],
      onServerEvent: apiWarnings(),
      // Uploads are streamed to the file store: the route counts them against max-file-bytes.
      limits: { maxBodyBytes: (o.files?.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES) + (1 << 20) },
    });
    await writeFileAtomic(
      `${o.stateDir}/${API_ADDRESS_FILE}`,
      new TextEncoder().encode(server.url + "\n"),
      0o600,
    );
  } catch (e) {
    await server?.shutdown().catch(() => {});
    wal.close();
    db?.close();
    lock.release();
    throw e;
  }
  const api = server;
  const database = db;
  const log = o.log ? new LifecycleLog(o.log.write, o.log.format) : undefined;
  const unsubscribe = log ? engine.subscribe((e) => log.onEvent(e)) : () => {};
  const counts = log ? setInterval(() => log.counts(), COUNTS_MS) : undefined;
  log?.log("info", "started", `started: id ${formatId(keys.current.id)}, API ${api.url}`, {
    id: formatId(keys.current.id),
    api: api.url,
    relay: engine.status().relay.address,
  });
  // Ids only: the log never shows names (contacts ls does, to the owner).
  for (const r of renamed) {
    log?.log(
      "warn",
      "contact_renamed",
      `contact ${r.id}: renamed, its name being another contact's but for case (names now ignore case)`,
      { peer: r.id, hint: "see 'schied contacts ls'; rename with 'schied contacts add ID NAME'" },
    );
  }
  if (log && !engine.status().relay.address) {
    log.log("warn", "no_relay", "no relay configured: staying offline", {
      hint: "restart with --relay ADDRESS (the address 'schied relay' printed)",
    });
  }
  engine.start();
  let closed = false;
  return {
    id: formatId(keys.current.id),
    apiUrl: api.url,
    token,
    engine,
    async close() {
      if (closed) return;
      closed = true;
      await api.shutdown();
      await engine.stop();
      clearInterval(counts);
      unsubscribe();
      log?.counts();
      log?.log("info", "stopped", "stopped");
      await Deno.remove(`${o.stateDir}/${API_ADDRESS_FILE}`).catch(() => {});
      wal.close();
      database.close();
      lock.release();
    },
  };
}

/**
 * The API server's failures worth a line on stderr (accept errors: descriptors ran out), at most
 * one line per minute with the count since the last: the API keeps serving meanwhile.
 */
function apiWarnings(): (e: ServerEvent) => void {
  let count = 0;
  let last = 0;
  let error = "";
  return (e) => {
    if (e.kind !== "accept_error") return;
    count++;
    error = e.error;
    const now = Date.now();
    if (now - last < 60_000) return;
    last = now;
    console.error(`schied: warning: the API could not accept ${count} connection(s): ${error}`);
    count = 0;
  };
}
