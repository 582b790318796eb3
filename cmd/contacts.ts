/**
 * `schied contacts add|ls|rm|verify|block|unblock|blocked`: names for ids, pinned keys, the
 * verified flag, blocked ids.
 *
 * @module
 */
import type { Contact } from "../api/client.ts";
import { connectApi, GLOBAL_HELP, parseVerb, withApi } from "./_context.ts";
import { useColor } from "./_format.ts";
import { escapeText, EXIT, usage } from "./_output.ts";
import { qrText } from "./_qr.ts";

/** Help of the verb. */
export const HELP = `Usage: schied contacts <add|ls|rm|verify|block|unblock|blocked> …

  schied contacts add <id> [name]      add a contact (the relay must know the id), or name
                                       one; names ignore case: Frank and frank are one name
  schied contacts ls [--json]          list contacts: name, id, online, verified
  schied contacts rm <id|name>         remove a contact (a later message is a request)
  schied contacts verify <id|name>     show the safety number of the pair, 8 groups of 5
                                       digits (and as a QR code on a terminal), and mark the
                                       contact verified. Compare it out of band (in person, on
                                       a call): your contact's \`contacts verify\` shows the
                                       same 40 digits, or scan their QR code; if they differ,
                                       clear the mark with --no and stop trusting the id
      --qr                             draw the QR code even when stdout is not a terminal
      --no-qr                          do not draw it
      --no                             clear the mark (for a contact whose key changed:
                                       send to the new key without verifying it)
  schied contacts block <id|name>      drop everything this id sends, unread
  schied contacts unblock <id>         stop blocking it
  schied contacts blocked [--json]     list blocked ids

An id is the hash of its owner's identity key, so a contact's key never changes: a different key
is a different id, a new contact, unverified. The verified mark is of one pair of keys: a rotated
identity (yours or theirs; see 'schied id --help') is a new id with nothing verified. When a
contact you had verified rotates, 'ls' shows it as "key changed" and nothing is sent to its new
key until you run 'contacts verify' again (or '--no').

${GLOBAL_HELP}`;

function line(c: Contact): string {
  const online = c.online === null ? "?" : c.online ? "online" : "offline";
  const name = c.name ? escapeText(c.name) : "-";
  const mark = c.key_changed ? "key changed: verify again" : c.verified ? "verified" : "unverified";
  return `${name.padEnd(16)} ${c.id}  ${online.padEnd(7)} ${mark}`;
}

/**
 * What `contacts verify` prints: the contact's line, the safety number in groups, and, when
 * `qr` is given, its QR code (drawn with colours when `qr.color`).
 */
export function verifyOutput(c: Contact, qr?: { color: boolean }): string {
  const out = [line(c)];
  if (c.safety_number) {
    out.push(`safety number: ${c.safety_number}`);
    if (qr) out.push("", qrText(c.safety_number, qr.color));
  }
  return out.join("\n");
}

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseVerb(args, {
    json: { type: "boolean" },
    no: { type: "boolean" },
    qr: { type: "boolean" },
    "no-qr": { type: "boolean" },
  });
  const [sub, a, b, extra] = positionals;
  if (values.help || !sub) {
    console.log(HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const SUBS = ["add", "ls", "list", "rm", "remove", "verify", "block", "unblock", "blocked"];
  if (!SUBS.includes(sub)) {
    throw usage(`unknown contacts command "${sub}" (add, ls, rm, verify, block, unblock, blocked)`);
  }
  const api = await connectApi(values, env);
  switch (sub) {
    case "add": {
      if (!a || extra || (b === undefined && positionals.length > 3)) {
        throw usage("usage: schied contacts add <id> [name]");
      }
      const c = await withApi(() => api.addContact({ id: a, ...(b ? { name: b } : {}) }));
      console.log(line(c));
      if (c.safety_number) console.log(`safety number: ${c.safety_number}`);
      return EXIT.ok;
    }
    case "ls":
    case "list": {
      const cs = await withApi(() => api.contacts());
      if (values.json) console.log(JSON.stringify(cs));
      else for (const c of cs) console.log(line(c));
      return EXIT.ok;
    }
    case "rm":
    case "remove": {
      if (!a || b) throw usage("usage: schied contacts rm <id|name>");
      await withApi(() => api.removeContact(a));
      return EXIT.ok;
    }
    case "verify": {
      if (!a || b) throw usage("usage: schied contacts verify <id|name> [--no] [--qr|--no-qr]");
      if (values.qr && values["no-qr"]) throw usage("--qr and --no-qr exclude each other");
      const c = await withApi(() => api.verifyContact(a, !values.no));
      const qr = !values.no && !values["no-qr"] && (values.qr || Deno.stdout.isTerminal());
      console.log(verifyOutput(c, qr ? { color: useColor(env) } : undefined));
      return EXIT.ok;
    }
    case "block": {
      if (!a || b) throw usage("usage: schied contacts block <id|name>");
      const r = await withApi(() => api.block(a));
      console.log(`${r.id}  blocked`);
      return EXIT.ok;
    }
    case "unblock": {
      if (!a || b) throw usage("usage: schied contacts unblock <id>");
      await withApi(() => api.unblock(a));
      return EXIT.ok;
    }
    case "blocked": {
      const ids = await withApi(() => api.blocked());
      if (values.json) console.log(JSON.stringify(ids));
      else for (const id of ids) console.log(id);
      return EXIT.ok;
    }
    default:
      throw usage(`unknown contacts command "${sub}"`);
  }
}
