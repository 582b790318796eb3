/**
 * `schied chat <id|name>`: an interactive conversation like the original client: the peer's name,
 * incoming and outgoing lines interleaved, delivery marks. Works from a pipe too: it sends each
 * line, and at end of input waits (bounded) for the sent messages to be delivered.
 *
 * @module
 */
import { connectApi, GLOBAL_HELP, parseVerb, printHelp, RECONNECT, withApi } from "./_context.ts";
import { intFlag } from "./_flags.ts";
import { clock, paint, peerLabel, useColor } from "./_format.ts";
import { TextLineStream } from "./_lines.ts";
import { escapeText, EXIT, printError, usage } from "./_output.ts";
import { Backoff } from "../lib/backoff.ts";

/** Help of the verb. */
export const HELP = `Usage: schied chat <id|name> [--wait SECONDS]

Chats with one peer: type a line and press Enter to send it; incoming messages appear as they
arrive. Your lines end in "·" once the daemon has accepted them; "✓✓ delivered #N" follows when
the peer's daemon has stored message N. Ctrl-D ends the chat (after waiting up to --wait seconds
for delivery).

  --wait SECONDS   at end of input, wait this long for delivery (default 10); exit code 5
                   if something is still not delivered then

${GLOBAL_HELP}`;

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseVerb(args, { wait: { type: "string" } });
  if (values.help) return printHelp(HELP);
  const [target, extra] = positionals;
  if (!target) throw usage("schied chat needs a peer: schied chat <id|name>");
  if (extra) throw usage(`schied chat takes one peer, got also "${extra}"`);
  const waitMs = (intFlag("wait", values.wait, 0, 3600) ?? 10) * 1000;
  let api = await connectApi(values, env);
  const contacts = await withApi(() => api.contacts());
  const c = contacts.find((x) => x.name === target || x.id === target.toLowerCase());
  const peer = c?.id ?? target.toLowerCase();
  const label = peerLabel(peer, c?.name);
  const color = useColor(env);
  let since = (await withApi(() => api.status())).last_event_id;
  console.log(`chat with ${paint(color, 1, label)} (${peer})${c?.verified ? " — verified" : ""}`);
  console.log("type a message and press Enter; Ctrl-D to quit");
  // Statuses of messages to this peer, from the events; a status may come before the answer
  // to our own send, so it is kept until that answer tells us the id is ours.
  const status = new Map<string, { s: string; seq: unknown; reason: unknown }>();
  const mine = new Set<string>();
  const mark = (id: string, s: string, seq: unknown, reason?: unknown) => {
    if (!mine.has(id)) return;
    if (s === "delivered") console.log(paint(color, 32, `  ✓✓ delivered #${seq}`));
    else if (s === "failed") {
      console.log(paint(color, 31, `  ✗ failed #${seq}: ${escapeText(String(reason))}`));
    }
  };
  const stop = new AbortController();
  const events = (async () => {
    const backoff = new Backoff(RECONNECT);
    while (!stop.signal.aborted) {
      try {
        for await (const e of api.events({ since, signal: stop.signal })) {
          since = e.id;
          backoff.reset();
          if (e.type === "message" && e.data.from === peer) {
            const d = e.data;
            console.log(
              `${paint(color, 2, clock(d.ts))} ${paint(color, 36, label)}: ${escapeText(d.text)}`,
            );
          } else if (e.type === "status" && e.data.to === peer) {
            const d = e.data;
            status.set(d.id, { s: d.status, seq: d.seq, reason: d.reason });
            mark(d.id, d.status, d.seq, d.reason);
          } else if (e.type === "presence" && e.data.id === peer) {
            console.log(paint(color, 2, `  ${label} is ${e.data.online ? "online" : "offline"}`));
          }
        }
      } catch (e) {
        if (stop.signal.aborted) break;
        if (backoff.failures === 0) {
          printError(`lost the daemon: ${(e as Error).message}`, "reconnecting…");
        }
      }
      if (stop.signal.aborted) break;
      await backoff.wait(stop.signal);
      // A restarted daemon has a new token: look it up again.
      api = await connectApi(values, env).catch(() => api);
    }
  })();
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TextLineStream(),
  );
  for await (const line of lines) {
    if (line.trim() === "") continue;
    const r = await withApi(() => api.send({ to: peer, text: line }));
    mine.add(r.id);
    console.log(
      `${paint(color, 2, clock(Date.now()))} ${paint(color, 33, "me")}: ${escapeText(line)} ·`,
    );
    const known = status.get(r.id);
    if (known && (known.s === "delivered" || known.s === "failed")) {
      mark(r.id, known.s, known.seq, known.reason);
    }
  }
  const open = () =>
    [...mine].filter((id) => !["delivered", "failed"].includes(status.get(id)?.s ?? ""));
  const end = Date.now() + waitMs;
  while (open().length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  stop.abort();
  await events;
  const pending = [...mine].filter((id) => status.get(id)?.s !== "delivered").length;
  if (pending > 0) {
    printError(
      `${pending} message(s) not delivered yet`,
      "they stay queued in the daemon and go out when the peer is reachable",
    );
    return EXIT.relay_offline;
  }
  return EXIT.ok;
}
