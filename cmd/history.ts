/**
 * `schied history <id|name>`: the conversation with one peer, printed once: what you missed,
 * then exit (`listen` follows; `chat` is interactive).
 *
 * @module
 */
import type { MessageRecord } from "../api/client.ts";
import { connectApi, GLOBAL_HELP, parseVerb, printHelp, withApi } from "./_context.ts";
import { intFlag } from "./_flags.ts";
import { paint, peerLabel, stamp, useColor } from "./_format.ts";
import { escapeText, EXIT, usage } from "./_output.ts";
import { parseSince } from "./_since.ts";
import { getGroup, listGroups } from "./_group_api.ts";

/** Messages shown when --limit is not given. */
export const DEFAULT_LIMIT = 20;

/** Help of the verb. */
export const HELP = `Usage: schied history <id|name> [--since ID|DURATION] [--limit N] [--json]

Prints the conversation with a peer, oldest first, and exits: the last --limit messages, both
directions ("12:00:01 alice: hi"; the date when not today; your own lines as "me" with their
state: · on the way, ✓✓ delivered, ✗ failed). Exit code 4 when the peer is unknown.

  --since ID    only after event ID, or within a duration back from now (90s, 10m, 2h, 1d, 1w)
  --limit N     at most N messages, the newest ones (default ${DEFAULT_LIMIT}, at most 1000)
  --json        JSON Lines: one message record per line (as GET /messages)

${GLOBAL_HELP}

Examples:
  schied history alice
  schied history alice --since 1d --limit 100
  schied history 3f0c1d2e-… --json | jq -r .text`;

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseVerb(args, {
    since: { type: "string" },
    limit: { type: "string" },
    json: { type: "boolean" },
  });
  if (values.help) return printHelp(HELP);
  const [peer, extra] = positionals;
  if (!peer) throw usage("schied history needs a peer: schied history <id|name>");
  if (extra !== undefined) throw usage(`schied history takes one peer, got also "${extra}"`);
  const limit = intFlag("limit", values.limit, 1, 1000) ?? DEFAULT_LIMIT;
  const since = values.since === undefined ? undefined : parseSince(values.since);
  const api = await connectApi(values, env);
  // Newest first from the daemon (the last N), shown oldest first.
  const messages = (await withApi(() =>
    api.messages({
      with: peer,
      order: "desc",
      limit,
      ...(since && "eventId" in since ? { since: since.eventId } : {}),
      ...(since && "ts" in since ? { since_ts: since.ts } : {}),
    })
  )).reverse();
  const color = useColor(env);
  // With a peer, its group messages are tagged with their group: they are not the pair's own.
  const view = values.json ? null : await withApi(() => getGroup(api, peer)).catch(() => null);
  const names = !values.json && !view && messages.some((m) => m.group !== undefined)
    ? new Map((await withApi(() => listGroups(api))).map((g) => [g.id, g.name]))
    : new Map<string, string | null>();
  for (const m of messages) {
    if (values.json) {
      console.log(JSON.stringify(m));
      continue;
    }
    const tag = !view && m.group !== undefined
      ? `[${names.get(m.group) ?? m.group.slice(0, 8)}]`
      : "";
    console.log(historyLine(m, color, Date.now(), tag));
  }
  return EXIT.ok;
}

const MARK: Record<MessageRecord["status"], string> = {
  queued: "·",
  sent: "·",
  delivered: "✓✓",
  failed: "✗",
};

/** One message as a line of history. */
export function historyLine(
  m: MessageRecord,
  color: boolean,
  now = Date.now(),
  tag = "",
): string {
  const when = paint(color, 2, stamp(m.ts, now)) +
    (tag ? " " + paint(color, 2, escapeText(tag)) : "");
  if (m.direction === "in") {
    return `${when} ${paint(color, 36, peerLabel(m.peer, m.peer_name))}: ${escapeText(m.text)}`;
  }
  const why = m.status === "failed" && m.reason ? ` (${escapeText(m.reason)})` : "";
  return `${when} ${paint(color, 33, "me")}: ${escapeText(m.text)} ${MARK[m.status]}${why}`;
}
