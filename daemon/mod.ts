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
import { serveApi } from "../api/mod.ts";
import { createToken, writeTokenFiles } from "../api/token.ts";
import { formatId } from "../protocol/identity.ts";
import { ensurePrivateDir, ensurePrivateFile, writeFileAtomic } from "../lib/private_fs.ts";
import { DB_FILE, openDb } from "./db.ts";
import { Engine, type EngineOptions } from "./engine.ts";
import { Keystore } from "./keystore.ts";
import { API_ADDRESS_FILE, RELAY_ADDRESS_FILE } from "./state_dir.ts";

export { defaultStateDir } from "./state_dir.ts";
export { Keystore, KeystoreError } from "./keystore.ts";

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
  /** Passphrase sealing the identity (optional). */
  passphrase?: string;
  /** Origins allowed to call the API (empty by default: browsers are refused). */
  originAllowlist?: string[];
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
  const { store, keys } = await Keystore.open(o.stateDir, {
    passphrase: o.passphrase,
    create: true,
  });
  await ensurePrivateFile(`${o.stateDir}/${DB_FILE}`);
  const db = openDb(o.stateDir);
  let engine: Engine;
  try {
    engine = new Engine({ db, keystore: store, keys, relay: o.relay, ...o.engine });
  } catch (e) {
    db.close();
    throw e;
  }
  const relay = engine.status().relay.address;
  if (relay) {
    await writeFileAtomic(
      `${o.stateDir}/${RELAY_ADDRESS_FILE}`,
      new TextEncoder().encode(relay + "\n"),
      0o600,
    );
  }
  // A fresh token at every start: a leaked one dies with the daemon.
  const token = createToken();
  await writeTokenFiles(o.stateDir, token);
  const server = serveApi({
    service: engine,
    token,
    port: o.apiPort ?? 7777,
    hostname: o.apiHost ?? "127.0.0.1",
    allowNonLoopback: o.apiNonLoopback ?? false,
    originAllowlist: o.originAllowlist ?? [],
  });
  await writeFileAtomic(
    `${o.stateDir}/${API_ADDRESS_FILE}`,
    new TextEncoder().encode(server.url + "\n"),
    0o600,
  );
  engine.start();
  let closed = false;
  return {
    id: formatId(keys.current.id),
    apiUrl: server.url,
    token,
    engine,
    async close() {
      if (closed) return;
      closed = true;
      await server.shutdown();
      await engine.stop();
      await Deno.remove(`${o.stateDir}/${API_ADDRESS_FILE}`).catch(() => {});
      db.close();
    },
  };
}
