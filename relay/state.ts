/**
 * The relay's state dir: its static key (0600) and the registry. Directory 0700, atomic writes.
 *
 * @module
 */
import { dhFromSecret, type DhKeyPair, randomSecret } from "../protocol/_crypto.ts";
import { fromBase64Url, toBase64Url } from "../protocol/bytes.ts";
import { KEY_LEN } from "../protocol/constants.ts";

/** File name of the relay's static key inside its state dir. */
export const RELAY_KEY_FILE = "relay.key";
/** File name of the registry database inside its state dir. */
export const REGISTRY_FILE = "registry.db";

/** The relay's default state dir: $XDG_STATE_HOME/schied-relay, else ~/.local/state/schied-relay. */
export function defaultRelayStateDir(env: (k: string) => string | undefined): string {
  const xdg = env("XDG_STATE_HOME");
  if (xdg) return `${xdg}/schied-relay`;
  return `${env("HOME") ?? "."}/.local/state/schied-relay`;
}

/** Creates the dir (0700) if missing; refuses a dir other users can read or write. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await Deno.stat(dir);
  if (st.mode !== null && (st.mode & 0o077) !== 0) await Deno.chmod(dir, 0o700);
}

/** Writes a file atomically (temp file with `mode`, fsync, rename). */
export async function writeFileAtomic(path: string, data: Uint8Array, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  const f = await Deno.open(tmp, { write: true, createNew: true, mode });
  try {
    let off = 0;
    while (off < data.length) off += await f.write(data.subarray(off));
    await f.sync();
  } finally {
    f.close();
  }
  await Deno.rename(tmp, path);
}

/** Loads the relay's static key, generating it (from the CSPRNG) on first start. */
export async function loadOrCreateRelayKey(dir: string): Promise<DhKeyPair & { created: boolean }> {
  const path = `${dir}/${RELAY_KEY_FILE}`;
  let text: string | undefined;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (text !== undefined) {
    const st = await Deno.stat(path);
    if (st.mode !== null && (st.mode & 0o077) !== 0) {
      throw new Error(
        `Relay key ${path} is readable by others (mode ${
          (st.mode & 0o777).toString(8)
        }); chmod 600 it`,
      );
    }
    let secret: Uint8Array;
    try {
      secret = fromBase64Url(text.trim());
    } catch {
      throw new Error(`Relay key ${path} is not base64url`);
    }
    if (secret.length !== KEY_LEN) throw new Error(`Relay key ${path} is not ${KEY_LEN} bytes`);
    return { ...(await dhFromSecret(secret)), created: false };
  }
  const secret = randomSecret();
  await writeFileAtomic(path, new TextEncoder().encode(toBase64Url(secret) + "\n"), 0o600);
  return { ...(await dhFromSecret(secret)), created: true };
}
