/**
 * The API's bearer token and its two files in the state dir, both mode 0600:
 *
 * - `api-token`: the token alone (for the CLI and scripts);
 * - `api-auth-header`: `Authorization: Bearer <token>` and a newline, for `curl -H @file`.
 *
 * Files are written atomically (lib/private_fs.ts: a temp file in the same dir, then rename), so a reader never
 * sees a half-written token.
 *
 * @module
 */
import { writeFileAtomic } from "../lib/private_fs.ts";
import { toBase64Url, utf8 } from "../protocol/bytes.ts";

/** Name of the token file in the state dir. */
export const TOKEN_FILE = "api-token";

/** Name of the curl header file in the state dir. */
export const AUTH_HEADER_FILE = "api-auth-header";

/** Bytes of randomness in a token. */
export const TOKEN_BYTES = 32;

const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Makes a new token: 32 random bytes, base64url (43 characters).
 *
 * @example
 * ```ts
 * createToken().length; // 43
 * ```
 */
export function createToken(): string {
  return toBase64Url(crypto.getRandomValues(new Uint8Array(TOKEN_BYTES)));
}

/**
 * The `Authorization` header line of a token, with its newline (the api-auth-header file).
 *
 * @example
 * ```ts
 * authHeaderLine("abc"); // "Authorization: Bearer abc\n"
 * ```
 */
export function authHeaderLine(token: string): string {
  return `Authorization: Bearer ${token}\n`;
}

/**
 * Writes `api-token` and `api-auth-header` for `token` into `stateDir`.
 *
 * @example
 * ```ts
 * await writeTokenFiles("/home/me/.local/state/schied", createToken());
 * ```
 */
export async function writeTokenFiles(stateDir: string, token: string): Promise<void> {
  if (!TOKEN_RE.test(token)) throw new TypeError("A token is 43 base64url characters");
  await writeFileAtomic(`${stateDir}/${TOKEN_FILE}`, utf8.encode(token), 0o600);
  await writeFileAtomic(
    `${stateDir}/${AUTH_HEADER_FILE}`,
    utf8.encode(authHeaderLine(token)),
    0o600,
  );
}

/**
 * Reads the token from `api-token` in `stateDir` (surrounding whitespace ignored). Throws
 * Deno.errors.NotFound when there is none, TypeError when it is malformed.
 *
 * @example
 * ```ts
 * const token = await readToken(stateDir);
 * ```
 */
export async function readToken(stateDir: string): Promise<string> {
  const token = (await Deno.readTextFile(`${stateDir}/${TOKEN_FILE}`)).trim();
  if (!TOKEN_RE.test(token)) {
    throw new TypeError(`${stateDir}/${TOKEN_FILE} does not hold a token (43 base64url chars)`);
  }
  return token;
}

/**
 * Reads the api-auth-header file and returns the token it carries.
 *
 * @example
 * ```ts
 * await readAuthHeader(stateDir) === await readToken(stateDir); // true
 * ```
 */
export async function readAuthHeader(stateDir: string): Promise<string> {
  const text = await Deno.readTextFile(`${stateDir}/${AUTH_HEADER_FILE}`);
  const m = /^Authorization: Bearer ([A-Za-z0-9_-]{43})\r?\n?$/.exec(text);
  if (!m) throw new TypeError(`${stateDir}/${AUTH_HEADER_FILE} is not an Authorization line`);
  return m[1]!;
}

/**
 * Reads the token of `stateDir`, or makes one and writes both files when there is none (or it
 * is malformed); rewrites a missing or stale api-auth-header. What the daemon calls at start.
 *
 * @example
 * ```ts
 * const token = await loadOrCreateToken(stateDir);
 * ```
 */
export async function loadOrCreateToken(stateDir: string): Promise<string> {
  const missing = (e: unknown) => e instanceof Deno.errors.NotFound || e instanceof TypeError;
  let token: string;
  try {
    token = await readToken(stateDir);
  } catch (e) {
    if (!missing(e)) throw e;
    token = createToken();
    await writeTokenFiles(stateDir, token);
    return token;
  }
  try {
    if (await readAuthHeader(stateDir) === token) return token;
  } catch (e) {
    if (!missing(e)) throw e;
  }
  await writeFileAtomic(
    `${stateDir}/${AUTH_HEADER_FILE}`,
    utf8.encode(authHeaderLine(token)),
    0o600,
  );
  return token;
}
