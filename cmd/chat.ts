/**
 * `schied chat <id|name>`: an interactive conversation like the original client: the peer's name,
 * incoming and outgoing lines interleaved, delivery marks. Works from a pipe too: it sends each
 * line, and at end of input waits (bounded) for the sent messages to be delivered.
 *
 * @module
 */
import { connectApi, GLOBAL_HELP, parseVerb, printHelp, withApi } from "./_context.ts";
import { intFlag } from "./_flags.ts";
import { clock, paint, peerLabel, useColor } from "./_format.ts";
import { TextLineStream } from "./_lines.ts";
import { escapeText, EXIT, printError, usage } from "./_output.ts";

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
  const api = await connectApi(values, env);
  const contacts = await withApi(() => api.contacts());
  const c = contacts.find((x) => x.name === target || x.id === target.toLowerCase());
  const peer = c?.id ?? target.toLowerCase();
  const label = peerLabel(peer, c?.name);
  const color = useColor(env);
  const since = (await withApi(() => api.status())).last_event_id;
  console.log(`chat with ${paint(color, 1, label)} (${peer})${c?.verified ? " — verified" : ""}`);
  console.log("type a message and press Enter; Ctrl-D to quit");
  const mine = new Map<string, string>(); // message id → status
  const stop = new AbortController();
  const events = (async () => {
    try {
      for await (const e of api.events({ since, signal: stop.signal })) {
        const d = e.data;
        if (e.type === "message" && d.from === peer) {
          console.log(
            `${paint(color, 2, clock(Number(d.ts)))} ${paint(color, 36, label)}: ${
              escapeText(String(d.text))
            }`,
          );
        } else if (e.type === "status" && mine.has(String(d.id))) {
          const s = String(d.status);
          mine.set(String(d.id), s);
          if (s === "delivered") console.log(paint(color, 32, `  ✓✓ delivered #${d.seq}`));
          else if (s === "failed") {
            console.log(paint(color, 31, `  ✗ failed #${d.seq}: ${escapeText(String(d.reason))}`));
          }
        } else if (e.type === "presence" && d.id === peer) {
          console.log(paint(color, 2, `  ${label} is ${d.online ? "online" : "offline"}`));
        }
      }
    } catch (e) {
      if (!stop.signal.aborted) printError(`lost the daemon: ${(e as Error).message}`);
    }
  })();
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TextLineStream(),
  );
  for await (const line of lines) {
    if (line.trim() === "") continue;
    const r = await withApi(() => api.send({ to: peer, text: line }));
    if (!mine.has(r.id) || mine.get(r.id) === "queued") mine.set(r.id, r.status);
    console.log(
      `${paint(color, 2, clock(Date.now()))} ${paint(color, 33, "me")}: ${escapeText(line)} ·`,
    );
  }
  const end = Date.now() + waitMs;
  while ([...mine.values()].some((s) => s !== "delivered" && s !== "failed") && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
  }
  stop.abort();
  await events;
  const pending = [...mine.values()].filter((s) => s !== "delivered").length;
  if (pending > 0) {
    printError(
      `${pending} message(s) not delivered yet`,
      "they stay queued in the daemon and go out when the peer is reachable",
    );
    return EXIT.relay_offline;
  }
  return EXIT.ok;
}
