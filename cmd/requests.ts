/**
 * `schied requests [ls|accept|decline]`: message requests, from ids that wrote first and are
 * not contacts.
 *
 * @module
 */
import type { MessageRequest } from "../api/client.ts";
import { connectApi, GLOBAL_HELP, parseVerb, withApi } from "./_context.ts";
import { escapeText, EXIT, usage } from "./_output.ts";

/** Help of the verb. */
export const HELP = `Usage: schied requests [ls|accept|decline] …

Someone who is not a contact and writes to you makes a message request: their messages are
kept (up to 64) but they are not a contact, not watched, and 'schied listen' does not print
them. Accept to make them a contact, decline to forget them, or block them
('schied contacts block ID'), which drops whatever they send unread.

  schied requests [ls] [--json]        list pending requests, oldest first
  schied requests accept <id> [name]   make the requester a contact (its messages stay);
                                       compare the safety number it prints with theirs
  schied requests decline <id>         forget the request and its messages

${GLOBAL_HELP}`;

function line(r: MessageRequest): string {
  const when = new Date(r.received_at).toISOString().slice(0, 16).replace("T", " ");
  const text = r.last_text === null ? "" : ` "${escapeText(r.last_text).slice(0, 60)}"`;
  return `${r.id}  ${when}  ${String(r.messages).padStart(2)} message${
    r.messages === 1 ? " " : "s"
  }${text}`;
}

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseVerb(args, { json: { type: "boolean" } });
  const [sub = "ls", a, b, extra] = positionals;
  if (values.help) {
    console.log(HELP);
    return EXIT.ok;
  }
  if (!["ls", "list", "accept", "decline"].includes(sub)) {
    throw usage(`unknown requests command "${sub}" (ls, accept, decline)`);
  }
  const api = await connectApi(values, env);
  switch (sub) {
    case "accept": {
      if (!a || extra) throw usage("usage: schied requests accept <id> [name]");
      const c = await withApi(() => api.acceptRequest(a, b));
      console.log(`${c.name ? escapeText(c.name) : "-"} ${c.id}  now a contact`);
      if (c.safety_number) console.log(`safety number: ${c.safety_number}`);
      return EXIT.ok;
    }
    case "decline": {
      if (!a || b) throw usage("usage: schied requests decline <id>");
      await withApi(() => api.declineRequest(a));
      return EXIT.ok;
    }
    default: {
      if (a) throw usage("usage: schied requests [ls] [--json]");
      const rs = await withApi(() => api.requests());
      if (values.json) console.log(JSON.stringify(rs));
      else for (const r of rs) console.log(line(r));
      return EXIT.ok;
    }
  }
}
