/**
 * The on-disk format of keystore.ts's `identity.json`: the stored shapes (plain, and sealed with
 * a passphrase), the checks a file read back must pass, and the scrypt + AES-256-GCM sealing.
 *
 * scrypt (N=2^17, r=8, p=1; memory-hard, so each guess costs 128 MiB and ≈0.45 s here) derives
 * an AES-256-GCM key; the salt and nonce are random per write. scrypt runs in node:crypto's
 * thread pool, so the event loop is not blocked.
 *
 * @module
 */
import { scrypt } from "node:crypto";
import { fromBase64Url, toBase64Url, utf8 } from "../protocol/bytes.ts";

/** The scrypt cost of new seals (RFC 7914 parameters). */
export const SCRYPT = { N: 2 ** 17, r: 8, p: 1, dkLen: 32 };

/** The current file version. */
export const KEYSTORE_VERSION = 2;

/** One identity's secrets, as stored. */
export interface StoredIdentity {
  seed: string;
  link: string;
  e2e: string;
  created: string;
}

/** The file's content, unsealed. */
export interface Plain {
  version: 1 | 2;
  current: StoredIdentity;
  retired: StoredIdentity[];
  /** The data key (version 2). */
  dataKey?: string;
}

/** A file sealed with a passphrase. */
interface Sealed {
  version: 1 | 2;
  sealed: { kdf: "scrypt"; N: number; r: number; p: number; salt: string; iv: string; ct: string };
}

/** Errors of the keystore. */
export class KeystoreError extends Error {
  /** `locked`: a passphrase is needed; `bad_passphrase`; `corrupt`; `insecure`: others can read it. */
  constructor(
    readonly code: "locked" | "bad_passphrase" | "corrupt" | "insecure",
    message: string,
  ) {
    super(message);
    this.name = "KeystoreError";
  }
}

/** Largest scrypt cost accepted from a file (a forged file must not make us use gigabytes). */
const MAX_N = 2 ** 20;

async function kek(passphrase: string, salt: Uint8Array, p = SCRYPT): Promise<CryptoKey> {
  if (
    !Number.isInteger(p.N) || p.N < 2 || p.N > MAX_N || (p.N & (p.N - 1)) !== 0 || p.r !== 8 ||
    p.p !== 1
  ) {
    throw new KeystoreError("corrupt", `Unsupported scrypt parameters N=${p.N} r=${p.r} p=${p.p}`);
  }
  const k = await new Promise<Uint8Array>((resolve, reject) =>
    scrypt(
      utf8.encode(passphrase.normalize("NFC")),
      salt,
      32,
      { N: p.N, r: p.r, p: p.p, maxmem: 256 * p.N * p.r + (1 << 20) },
      (e, key) => (e ? reject(e) : resolve(new Uint8Array(key))),
    )
  );
  return crypto.subtle.importKey("raw", k as BufferSource, "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
}

function checkPlain(p: Plain, path: string): Plain {
  if (typeof p?.version === "number" && p.version > KEYSTORE_VERSION) {
    throw new KeystoreError("corrupt", `${path} is version ${p.version}, newer than this release`);
  }
  if ((p?.version !== 1 && p?.version !== 2) || !p.current?.seed || !Array.isArray(p.retired)) {
    throw new KeystoreError("corrupt", `${path} is malformed`);
  }
  if (p.dataKey !== undefined && fromBase64Url(p.dataKey).length !== 32) {
    throw new KeystoreError("corrupt", `${path} has a malformed data key`);
  }
  return p;
}

/**
 * Reads a file's text (at `path`, named in errors): its content, unsealed with the passphrase
 * if it is sealed, and the scrypt cost it was sealed at (null when it was not). Throws a
 * KeystoreError: `locked` (sealed, no passphrase), `bad_passphrase`, or `corrupt`.
 */
export async function decodeKeyFile(
  text: string,
  path: string,
  passphrase: string | undefined,
): Promise<{ plain: Plain; sealedN: number | null }> {
  let j: Plain | Sealed;
  try {
    j = JSON.parse(text);
  } catch {
    throw new KeystoreError("corrupt", `${path} is not valid JSON`);
  }
  if ("sealed" in j) {
    if (!passphrase) {
      throw new KeystoreError(
        "locked",
        "The identity is sealed with a passphrase; set SCHIED_PASSPHRASE",
      );
    }
    const s = j.sealed;
    const key = await kek(passphrase, fromBase64Url(s.salt), {
      N: s.N,
      r: s.r,
      p: s.p,
      dkLen: 32,
    });
    try {
      const pt = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: fromBase64Url(s.iv) as BufferSource },
        key,
        fromBase64Url(s.ct) as BufferSource,
      );
      const plain = JSON.parse(new TextDecoder().decode(pt)) as Plain;
      return { plain: checkPlain(plain, path), sealedN: s.N };
    } catch (e) {
      if (e instanceof KeystoreError) throw e;
      throw new KeystoreError("bad_passphrase", "Wrong passphrase for the identity");
    }
  }
  return { plain: checkPlain(j, path), sealedN: null };
}

/**
 * The bytes of a file holding `plain`: its JSON, or, with a passphrase, sealed at the current
 * scrypt cost under a fresh salt and nonce.
 */
export async function encodeKeyFile(
  plain: Plain,
  passphrase: string | undefined,
): Promise<Uint8Array> {
  const bytes = utf8.encode(JSON.stringify(plain));
  let out: Uint8Array = bytes;
  if (passphrase) {
    const salt = crypto.getRandomValues(new Uint8Array(16));
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const key = await kek(passphrase, salt);
    const ct = new Uint8Array(
      await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, bytes as BufferSource),
    );
    const sealed: Sealed = {
      version: KEYSTORE_VERSION,
      sealed: {
        kdf: "scrypt",
        N: SCRYPT.N,
        r: SCRYPT.r,
        p: SCRYPT.p,
        salt: toBase64Url(salt),
        iv: toBase64Url(iv),
        ct: toBase64Url(ct),
      },
    };
    out = utf8.encode(JSON.stringify(sealed, null, 1));
  }
  return out;
}
