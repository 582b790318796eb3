/**
 * `schied group …`, `schied send GROUP` and `schied chat GROUP` (issue 12, item 6) against real
 * daemons: create, name, ls, add, rm, leave, the errors with their hints, and a chat from a pipe.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { cli, type DaemonProcess } from "../daemon_harness.ts";
import { waitFor } from "../harness.ts";
import { getGroup } from "../../cmd/_group_api.ts";
import { groupTexts, party, waitEpoch } from "./_groups.ts";

const run = (d: DaemonProcess, args: string[], stdin?: string) =>
  cli([...args, "--state-dir", d.stateDir], stdin === undefined ? {} : { stdin });

Deno.test("cli: group create/name/ls/add/rm/leave, send and chat to a group", async () => {
  const p = await party(4);
  const [a, b, c, d] = p.ds as [DaemonProcess, DaemonProcess, DaemonProcess, DaemonProcess];
  try {
    const made = await run(a, ["group", "create", "team", "b", "c"]);
    assertEquals(made.code, 0, made.stderr);
    const id = /[0-9a-f]{32}/.exec(made.stdout)![0];
    assertOk(made.stdout.includes("epoch 1  3 members"), made.stdout);
    await waitEpoch(b, id, 1);
    await waitEpoch(c, id, 1);
    const named = await run(b, ["group", "name", id, "crew"]);
    assertEquals(named.code, 0, named.stderr);
    assertOk(named.stdout.startsWith("crew "), named.stdout);

    const sent = await run(a, ["send", "team", "--wait", "hello", "team"]);
    assertEquals(sent.code, 0, sent.stderr);
    assertEquals((await a.api.message(sent.stdout.trim())).status, "delivered");
    assertEquals(await groupTexts(b, id), ["hello team"]);
    const ls = await run(a, ["group", "ls", "team"]);
    assertEquals(ls.code, 0, ls.stderr);
    assertOk(/^\* \(you\) +/m.test(ls.stdout) && /^ {2}b +/m.test(ls.stdout), ls.stdout);

    // Errors: a non-admin, an unknown group, a usage error.
    const notAdmin = await run(b, ["group", "add", "crew", "d"]);
    assertEquals(notAdmin.code, 1, notAdmin.stderr);
    assertOk(notAdmin.stderr.includes("schied: error: You are no admin of crew"), notAdmin.stderr);
    const unknown = await run(a, ["group", "rm", "nope", "b"]);
    assertEquals(unknown.code, 1);
    assertOk(unknown.stderr.includes('schied: error: no group "nope"'), unknown.stderr);
    assertOk(unknown.stderr.includes("schied: hint: see your groups with 'schied group ls'"));
    const bad = await run(a, ["group", "frob"]);
    assertEquals(bad.code, 2);
    assertOk(bad.stderr.includes('unknown group command "frob"'), bad.stderr);

    assertEquals((await run(a, ["group", "add", "team", "d"])).code, 0);
    await waitEpoch(d, id, 2);
    assertEquals((await run(a, ["group", "rm", "team", "c"])).code, 0);
    for (const x of [b, c, d]) await waitEpoch(x, id, 3);
    const left = await run(d, ["group", "leave", id]);
    assertEquals(left.code, 0, left.stderr);
    assertOk(left.stdout.includes("left"), left.stdout);
    await waitEpoch(a, id, 4);
    assertEquals((await getGroup(a.api, id))!.members.sort(), [a.id, b.id].sort());

    // A chat with the group, from a pipe: the line reaches the members left.
    const chat = await run(b, ["chat", "crew", "--wait", "20"], "from the chat\n");
    assertEquals(chat.code, 0, chat.stderr);
    assertOk(chat.stdout.includes("chat with crew"), chat.stdout);
    await waitFor(
      async () => (await groupTexts(a, id)).includes("from the chat"),
      "a has it",
      20_000,
    );
    assertEquals(await groupTexts(c, id), ["hello team"]);
    assertEquals(await groupTexts(d, id), []);
  } finally {
    await p.done();
  }
});
