/**
 * The cluster's Lua scripts: each is one atomic step in Redis, so that no two nodes can
 * interleave within it. Times are Redis's own clock (TIME), so the nodes' clocks need not agree.
 *
 * @module
 */

/**
 * Heartbeat: records this node as alive now (ZADD schied:nodes) and returns the nodes seen
 * within the TTL. KEYS[1] = schied:nodes; ARGV = node, ttl ms. Nodes silent for a minute are
 * removed from the set (nothing else ever reads them).
 */
export const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
return redis.call('ZRANGEBYSCORE', KEYS[1], now - tonumber(ARGV[2]), '+inf')
`;

/**
 * How long ago (ms, Redis's clock) node ARGV[1] last heartbeat, or -1 if never (within the
 * minute the set keeps). KEYS[1] = schied:nodes.
 */
export const LAST_HEARTBEAT = `
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s then return -1 end
local t = redis.call('TIME')
return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(s)
`;

/**
 * Keeps a presence key that is still ours: 1 refreshed; 2 it was gone (expired, or Redis lost
 * it) and is ours again; 0 another session owns it (this one was replaced). KEYS[1] = key;
 * ARGV = our value, ttl ms.
 */
export const REFRESH = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0
`;

/**
 * Compare-and-delete: removes a presence key only if it still holds our value, so a session's
 * cleanup never deletes a newer owner's. KEYS[1] = key; ARGV[1] = our value. 1 deleted, 0 not.
 */
export const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
