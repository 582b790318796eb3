/**
 * The cluster's Redis address, checked before anything connects (and by the CLI and launcher,
 * which must not load the Redis client to do so).
 *
 * @module
 */

/**
 * `url` with its password (if any) replaced by `***`, for messages and logs: a Redis URL may
 * carry credentials (`redis://user:password@host:port`, Redis 6 ACLs or `requirepass`).
 */
export function redactRedisUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:)[^@/]*@/i, "$1***@");
}

/**
 * Parses a `redis://[user:password@]host:port` URL strictly; throws with a specific message
 * (which never repeats the password).
 */
export function parseRedisUrl(url: string): { host: string; port: number } {
  const shown = redactRedisUrl(url);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`Cannot parse cluster address ${JSON.stringify(shown)}: not a URL`);
  }
  if (u.protocol !== "redis:") {
    throw new TypeError(`Cannot parse cluster address ${shown}: the scheme must be redis://`);
  }
  if (!u.hostname || !u.port) {
    throw new TypeError(`Cannot parse cluster address ${shown}: it needs a host and a port`);
  }
  if (u.pathname !== "" && u.pathname !== "/") {
    throw new TypeError(`Cannot parse cluster address ${shown}: no database path is supported`);
  }
  return { host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port) };
}
