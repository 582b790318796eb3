/**
 * The Redis commands of a session's presence and of the node's messages (router.ts): claiming an
 * id's presence key at login, releasing it by compare-and-delete, publishing presence changes,
 * and publishing to a node's inbox. Each is bounded in time (`bounded`): the caller decides.
 *
 * @module
 */
import { encodeInbox, encodePresence, type InboxMessage, parseOwner } from "./_codec.ts";
import { PRESENCE_TTL_MS } from "./_liveness.ts";
import { presenceKey } from "./_remote.ts";
import { RELEASE } from "./_scripts.ts";
import { bounded, buf, type RedisPair } from "./redis.ts";

/** A presence command without an answer from Redis within this fails. */
export const PRESENCE_TIMEOUT_MS = 1500;

/** The presence channel every node subscribes to. */
export const PRESENCE_CHANNEL = "schied:presence";
/** A node's inbox channel. */
export const inboxChannel = (node: string) => `schied:inbox:${node}`;

/**
 * Claims `key`'s presence key for `value` ("node session"), with the TTL: `SET … PX GET`, so the
 * previous owner comes back in the same step (null if none, or unreadable).
 */
export async function claimPresence(
  r: RedisPair,
  key: string,
  value: string,
): Promise<{ node: string; session: string } | null> {
  const prev = await bounded(
    r.cmd.sendCommand([
      "SET",
      presenceKey(key),
      value,
      "PX",
      String(PRESENCE_TTL_MS),
      "GET",
    ]) as Promise<string | null>,
    PRESENCE_TIMEOUT_MS,
    "claim",
  );
  return parseOwner(prev);
}

/** Deletes `key`'s presence key if it still holds `value`; true when it did. */
export async function releasePresence(r: RedisPair, key: string, value: string): Promise<boolean> {
  const n = await bounded(
    r.cmd.eval(RELEASE, { keys: [presenceKey(key)], arguments: [value] }),
    PRESENCE_TIMEOUT_MS,
    "release",
  );
  return n === 1;
}

/** Publishes that `id` is online or offline on `node` in `session`. */
export async function publishPresence(
  r: RedisPair,
  online: boolean,
  id: Uint8Array,
  node: string,
  session: string,
): Promise<void> {
  await r.cmd.publish(PRESENCE_CHANNEL, encodePresence({ online, id, node, session }));
}

/** Publishes `m` to `node`'s inbox; the number of subscribers that got it. */
export async function sendInbox(r: RedisPair, node: string, m: InboxMessage): Promise<number> {
  return Number(await r.cmd.publish(inboxChannel(node), buf(encodeInbox(m))));
}
