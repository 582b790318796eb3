/**
 * The daemon's keys at rest: `identity.json` (0600) in the state dir. It holds the current
 * identity (Ed25519 seed, link X25519 key, end-to-end X25519 static key), retired identities
 * kept after `schied id --rotate` until the user removes them, and the _data key_ that seals the
 * secrets in daemon.db (sealer.ts). All keys come from the CSPRNG.
 *
 * Optionally sealed with a passphrase: scrypt (N=2^17, r=8, p=1; memory-hard, so each guess
 * costs 128 MiB and ≈0.45 s here) derives an AES-256-GCM key; the salt and nonce are random per
 * write. scrypt runs in node:crypto's thread pool, so the event loop is not blocked.
 *
 * File versions: 1 (no data key; sealed files at N=2^16) is upgraded to 2 when it is opened: a
 * data key is added, and a sealed file is sealed again at the current cost. The upgraded file is
 * on disk before the database is opened, so the database is never sealed under a key that a
 * crash could lose.
 *
 * @module
 */
import {
  dhFromSecret,
  type DhKeyPair,
  randomSecret,
  signingKeyFromSeed,
  type SigningKeyPair,
} from "../protocol/_crypto.ts";
import { fromBase64Url, toBase64Url } from "../protocol/bytes.ts";
import { clientIdFromPublicKey, formatId } from "../protocol/identity.ts";
import { signStatic } from "../protocol/e2e_handshake.ts";
import { assertPrivateFile, readTextIfExists, writeFileAtomic } from "../lib/private_fs.ts";
import {
  decodeKeyFile,
  encodeKeyFile,
  KEYSTORE_VERSION,
  KeystoreError,
  type Plain,
  SCRYPT,
  type StoredIdentity,
} from "./_keystore_file.ts";

export { KEYSTORE_VERSION, KeystoreError, SCRYPT };

/** File name of the keys inside the state dir. */
export const IDENTITY_FILE = "identity.json";

/** A loaded identity with its keys ready for use. */
export interface Identity {
  /** The client_id. */
  id: Uint8Array;
  /** The Ed25519 identity key pair. */
  signing: SigningKeyPair;
  /** The X25519 key of the link to the relay. */
  linkKey: DhKeyPair;
  /** The X25519 Noise static key of end-to-end sessions. */
  e2eKey: DhKeyPair;
  /** identity public key ‖ signature over the e2e static key. */
  vouch: Uint8Array;
  /** When it was made. */
  created: string;
}

/** The keystore's content. */
export interface KeyFile {
  current: Identity;
  retired: Identity[];
  /** The 32-byte key that seals the secrets in daemon.db. */
  dataKey: Uint8Array;
}

function newStored(now: Date): StoredIdentity {
  const b = (x: Uint8Array) => toBase64Url(x);
  return {
    seed: b(randomSecret()),
    link: b(randomSecret()),
    e2e: b(randomSecret()),
    created: now.toISOString(),
  };
}

async function load(s: StoredIdentity): Promise<Identity> {
  const signing = await signingKeyFromSeed(fromBase64Url(s.seed));
  const e2eKey = await dhFromSecret(fromBase64Url(s.e2e));
  return {
    id: clientIdFromPublicKey(signing.publicKey),
    signing,
    linkKey: await dhFromSecret(fromBase64Url(s.link)),
    e2eKey,
    vouch: await signStatic(signing, e2eKey.publicKey),
    created: s.created,
  };
}

/** The keystore of one state dir. */
export class Keystore {
  #plain: Plain | undefined;

  private constructor(readonly path: string, readonly passphrase: string | undefined) {}

  /** True if the state dir has an identity. */
  static async exists(dir: string): Promise<boolean> {
    return (await readTextIfExists(`${dir}/${IDENTITY_FILE}`)) !== undefined;
  }

  /** Opens the keystore; creates a new identity if none exists and `create` is set. */
  static async open(
    dir: string,
    o: { passphrase?: string; create?: boolean; now?: Date } = {},
  ): Promise<{ store: Keystore; keys: KeyFile; created: boolean }> {
    const store = new Keystore(`${dir}/${IDENTITY_FILE}`, o.passphrase || undefined);
    const text = await readTextIfExists(store.path);
    let created = false;
    if (text === undefined) {
      if (!o.create) throw new KeystoreError("corrupt", `No identity in ${dir}; run 'schied init'`);
      store.#plain = {
        version: KEYSTORE_VERSION,
        current: newStored(o.now ?? new Date()),
        retired: [],
        dataKey: toBase64Url(randomSecret()),
      };
      await store.#save();
      created = true;
    } else {
      await assertPrivateFile(store.path).catch((e) => {
        throw new KeystoreError("insecure", (e as Error).message);
      });
      let upgrade: boolean;
      try {
        const { plain, sealedN } = await store.#decode(text);
        store.#plain = plain;
        // Old version, a passphrase given for an unsealed file (seal it now), or a seal made
        // at a lower cost than today's: write the file again.
        upgrade = plain.version !== KEYSTORE_VERSION || !plain.dataKey ||
          (store.passphrase !== undefined && sealedN !== SCRYPT.N);
        const keys = await store.keys();
        if (!upgrade) return { store, keys, created };
      } catch (e) {
        // Valid JSON of the wrong shape (null, a missing list, a short key) is corrupt too.
        if (e instanceof KeystoreError) throw e;
        throw new KeystoreError("corrupt", `${store.path} is malformed: ${(e as Error).message}`);
      }
      store.#plain!.version = KEYSTORE_VERSION;
      store.#plain!.dataKey ??= toBase64Url(randomSecret());
      await store.#save();
    }
    return { store, keys: await store.keys(), created };
  }

  /** True if the file on disk is sealed with a passphrase. */
  get sealed(): boolean {
    return this.passphrase !== undefined;
  }

  #decode(text: string): Promise<{ plain: Plain; sealedN: number | null }> {
    return decodeKeyFile(text, this.path, this.passphrase);
  }

  async #save(): Promise<void> {
    await writeFileAtomic(this.path, await encodeKeyFile(this.#plain!, this.passphrase), 0o600);
  }

  /** The loaded identities. */
  async keys(): Promise<KeyFile> {
    const p = this.#plain!;
    const dataKey = p.dataKey ? fromBase64Url(p.dataKey) : new Uint8Array();
    return {
      current: await load(p.current),
      retired: await Promise.all(p.retired.map(load)),
      dataKey,
    };
  }

  /** Makes a new current identity; the old one joins the retired list. */
  async rotate(now = new Date()): Promise<KeyFile> {
    const p = this.#plain!;
    p.retired.unshift(p.current);
    p.current = newStored(now);
    await this.#save();
    return await this.keys();
  }

  /** Removes a retired identity by id text; false if there is none. */
  async removeRetired(idText: string): Promise<boolean> {
    const p = this.#plain!;
    const keys = await Promise.all(p.retired.map(load));
    const i = keys.findIndex((k) => formatId(k.id) === idText.toLowerCase());
    if (i < 0) return false;
    p.retired.splice(i, 1);
    await this.#save();
    return true;
  }
}
