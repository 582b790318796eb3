/**
 * The cluster's Redis address, checked before anything connects (and by the CLI and launcher,
 * which must not load the Redis client to do so).
 *
 * @module
 */

/** Parses a `redis://host:port` URL strictly; throws with a specific message. */
export function parseRedisUrl(url: string): { host: string; port: number } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`Cannot parse cluster address ${JSON.stringify(url)}: not a URL`);
  }
  if (u.protocol !== "redis:") {
    throw new TypeError(`Cannot parse cluster address ${url}: the scheme must be redis://`);
  }
  if (!u.hostname || !u.port) {
    throw new TypeError(`Cannot parse cluster address ${url}: it needs a host and a port`);
  }
  if (u.pathname !== "" && u.pathname !== "/") {
    throw new TypeError(`Cannot parse cluster address ${url}: no database path is supported`);
  }
  return { host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port) };
}
