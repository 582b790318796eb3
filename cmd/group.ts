/**
 * `schied group create|add|rm|ls|leave`: groups of up to 100 members whose every membership
 * change is signed by an admin (protocol/README.md, section 11.11). Sending to a group is
 * `schied send NAME` and `schied chat NAME`.
 *
 * @module
 */
import type { ApiClient, Contact } from "../api/client.ts";
import { connectApi, GLOBAL_HELP, parseVerb, withApi } from "./_context.ts";
import {
  addMembers,
  createGroup,
  getGroup,
  type GroupRecord,
  leaveGroup,
  listGroups,
  nameGroup,
  removeMember,
} from "./_group_api.ts";
import { CliError, escapeText, EXIT, usage } from "./_output.ts";

/** Help of the verb. */
export const HELP = `Usage: schied group <create|add|rm|ls|name|leave> …

A group is you and up to 99 others. Every change of its members is signed by one of its admins
(its creator, and those it names) and numbered, so every member holds the same list and refuses
a forged or replayed change. A message to it goes to each member over your end-to-end session
with that member: 'schied send NAME' and 'schied chat NAME'. A member removed receives nothing
sent after; a member added receives nothing sent before. Group names are yours alone, like
contact names.

  schied group create <name> <member>…   make a group of you (its admin) and the members
                                         (contact names or ids)
  schied group add <group> <member>…     add members (admins only)
      --admin                            make them admins (members already, or new)
  schied group rm <group> <member>       remove a member (admins only)
  schied group ls [group] [--json]       your groups: name, id, epoch, members, state; with a
                                         group: its members (* an admin)
  schied group name <group> <name>       name a group for you (one someone else made
                                         shows by its id until you do)
  schied group leave <group>             leave a group (you receive nothing of it after)

${GLOBAL_HELP}`;

function line(g: GroupRecord): string {
  const name = g.name ? escapeText(g.name) : "-";
  const state = g.state === "member" ? "" : `  ${g.state}`;
  return `${name.padEnd(16)} ${g.id}  epoch ${g.epoch}  ${g.members.length} members${state}`;
}

function memberLines(g: GroupRecord, contacts: Contact[], me: string): string[] {
  return g.members.map((m) => {
    const c = contacts.find((x) => x.id === m);
    const name = m === me ? "(you)" : c?.name ? escapeText(c.name) : "-";
    return `${g.admins.includes(m) ? "*" : " "} ${name.padEnd(16)} ${m}`;
  });
}

async function show(api: ApiClient, idOrName: string): Promise<GroupRecord> {
  const g = await withApi(() => getGroup(api, idOrName));
  if (!g) {
    throw new CliError(
      `no group "${idOrName}"`,
      EXIT.error,
      "see your groups with 'schied group ls'",
    );
  }
  return g;
}

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseVerb(args, {
    json: { type: "boolean" },
    admin: { type: "boolean" },
  });
  const [sub, a, ...rest] = positionals;
  if (values.help || !sub) {
    console.log(HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const SUBS = ["create", "add", "rm", "remove", "ls", "list", "name", "leave"];
  if (!SUBS.includes(sub)) {
    throw usage(`unknown group command "${sub}" (create, add, rm, ls, name, leave)`);
  }
  if (values.admin && sub !== "add") throw usage("--admin goes with 'schied group add'");
  const api = await connectApi(values, env);
  const print = (g: GroupRecord) => console.log(values.json ? JSON.stringify(g) : line(g));
  switch (sub) {
    case "create":
      if (!a || rest.length === 0) throw usage("usage: schied group create <name> <member>…");
      print(await withApi(() => createGroup(api, a, rest)));
      return EXIT.ok;
    case "add":
      if (!a || rest.length === 0) {
        throw usage("usage: schied group add <group> <member>… [--admin]");
      }
      await show(api, a);
      print(await withApi(() => addMembers(api, a, rest, values.admin === true)));
      return EXIT.ok;
    case "rm":
    case "remove":
      if (!a || rest.length !== 1) throw usage("usage: schied group rm <group> <member>");
      await show(api, a);
      print(await withApi(() => removeMember(api, a, rest[0]!)));
      return EXIT.ok;
    case "name":
      if (!a || rest.length !== 1) throw usage("usage: schied group name <group> <name>");
      await show(api, a);
      print(await withApi(() => nameGroup(api, a, rest[0]!)));
      return EXIT.ok;
    case "leave":
      if (!a || rest.length > 0) throw usage("usage: schied group leave <group>");
      await show(api, a);
      print(await withApi(() => leaveGroup(api, a)));
      return EXIT.ok;
    default: {
      if (rest.length > 0) throw usage("usage: schied group ls [group] [--json]");
      if (a) {
        const g = await show(api, a);
        if (values.json) console.log(JSON.stringify(g));
        else {
          const [contacts, me] = await withApi(() => Promise.all([api.contacts(), api.me()]));
          console.log(line(g));
          for (const l of memberLines(g, contacts, me.id)) console.log(l);
        }
        return EXIT.ok;
      }
      const gs = await withApi(() => listGroups(api));
      if (values.json) console.log(JSON.stringify(gs));
      else for (const g of gs) console.log(line(g));
      return EXIT.ok;
    }
  }
}
