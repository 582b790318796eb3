/**
 * A state dir made ready without starting the daemon (`schied init`): the identity and the relay
 * address, under the dir's lock. Loads neither the engine nor the API, so `schied init` stays
 * light; the daemon's own start (mod.ts) writes the relay address the same way.
 *
 * @module
 */
import { ensurePrivateDir, ensurePrivateFile, writeFileAtomic } from "../lib/private_fs.ts";
import { formatId, utf8 } from "../protocol/mod.ts";
import { parseRelayList } from "./relay_client.ts";
import { DB_FILE, openDb, setSetting } from "./db.ts";
import { Keystore } from "./keystore.ts";
import { lockStateDir } from "./lock.ts";
import { Sealer } from "./sealer.ts";
import { RELAY_ADDRESS_FILE } from "./state_dir.ts";

/**
 * Writes the relay address file (the launcher reads it to grant access to that host only).
 *
 * @example
 * ```ts
 * await writeRelayAddress(dir, "ws://127.0.0.1:8765/#…");
 * ```
 */
export async function writeRelayAddress(dir: string, relay: string): Promise<void> {
  await writeFileAtomic(`${dir}/${RELAY_ADDRESS_FILE}`, utf8.encode(relay + "\n"), 0o600);
}

/** What initStateDir did. */
export interface InitResult {
  /** The identity's client id. */
  id: string;
  /** True when the dir already had an identity (it is kept as it was). */
  existed: boolean;
}

/**
 * Makes a state dir ready without starting the daemon (`schied init`): under the dir's lock
 * (StateDirLocked while a daemon runs), creates the identity unless there is one (sealed with
 * `passphrase`; an existing sealed one needs it: KeystoreError), and records `relay` in the
 * database and the relay address file. Throws a TypeError for a malformed relay address.
 *
 * @example
 * ```ts
 * const { id, existed } = await initStateDir(dir, { relay: "ws://127.0.0.1:8765/#…" });
 * ```
 */
export async function initStateDir(
  dir: string,
  o: { relay?: string; passphrase?: string } = {},
): Promise<InitResult> {
  // One address or a comma-separated list (as the daemon takes it), checked and normalised.
  const relay = o.relay === undefined
    ? undefined
    : parseRelayList(o.relay).map((e) => e.text).join(",");
  await ensurePrivateDir(dir);
  const lock = lockStateDir(dir);
  try {
    const existed = await Keystore.exists(dir);
    const { keys } = await Keystore.open(dir, { passphrase: o.passphrase, create: true });
    if (relay !== undefined) {
      await ensurePrivateFile(`${dir}/${DB_FILE}`);
      const db = openDb(dir, new Sealer(keys.dataKey));
      try {
        setSetting(db, "relay", relay);
      } finally {
        db.close();
      }
      await writeRelayAddress(dir, relay);
    }
    return { id: formatId(keys.current.id), existed };
  } finally {
    lock.release();
  }
}
