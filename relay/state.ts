/**
 * The relay's state dir: its static key (0600) and the registry. Directory 0700, atomic writes.
 *
 * @module
 */
import { dhFromSecret, type DhKeyPair, randomSecret } from "../protocol/_crypto.ts";
import { fromBase64Url, toBase64Url } from "../protocol/bytes.ts";
import { KEY_LEN } from "../protocol/constants.ts";
import { assertPrivateFile, readTextIfExists, writeFileAtomic } from "../lib/private_fs.ts";

export { ensurePrivateDir } from "../lib/private_fs.ts";

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

/** Loads the relay's static key, generating it (from the CSPRNG) on first start. */
export async function loadOrCreateRelayKey(dir: string): Promise<DhKeyPair & { created: boolean }> {
  const path = `${dir}/${RELAY_KEY_FILE}`;
  const text = await readTextIfExists(path);
  if (text !== undefined) {
    await assertPrivateFile(path);
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
