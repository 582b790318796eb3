/**
 * `schied group …`, `schied send GROUP` and `schied chat GROUP` (issue 12, item 6) against real
 * daemons: create, name, ls, add, rm, leave, the errors with their hints, a file to every member
 * (`send GROUP --file`, and `PUT /files?to=GROUP` as curl -T sends it), and a chat from a pipe.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { cli, type DaemonProcess, spawnCli } from "../daemon_harness.ts";
import { waitFor } from "../harness.ts";
import { createGroup, getGroup } from "../../cmd/_group_api.ts";
import { listFiles, uploadFile } from "../../api/client_files.ts";
import { toHex } from "../../protocol/bytes.ts";
import { groupTexts, party, waitEpoch } from "./_groups.ts";

const run = (d: DaemonProcess, args: string[], stdin?: string) =>
  cli([...args, "--state-dir", d.stateDir], stdin === undefined ? {} : { stdin });

Deno.test("cli: group create/name/ls/add/rm/leave, send, a file and chat to a group", async () => {
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
    // The group's history, either side: GET /messages?with=GROUP.
    const mine = await run(a, ["history", "team"]);
    assertEquals(mine.code, 0, mine.stderr);
    assertOk(/ me: hello team ✓✓$/m.test(mine.stdout), mine.stdout);
    const theirs = await run(b, ["history", "crew", "--json"]);
    const got = theirs.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assertEquals(got.map((m) => [m.direction, m.peer, m.text, m.group]), [[
      "in",
      a.id,
      "hello team",
      id,
    ]]);
    // With the sender alone, the group's message is tagged with the group (b named it crew).
    const pair = await run(b, ["history", a.id]);
    assertOk(/ \[crew\] .*: hello team$/m.test(pair.stdout), pair.stdout);
    // listen shows the group; --exec gets it in SCHIED_GROUP and SCHIED_GROUP_NAME.
    const listen = spawnCli([
      "listen",
      "--since",
      "0",
      "--exec",
      'echo "exec $SCHIED_GROUP $SCHIED_GROUP_NAME"',
      "--state-dir",
      b.stateDir,
    ]);
    try {
      await waitFor(
        () => listen.out.some((l) => / \[crew\] a: hello team$/.test(l)),
        "listen line",
      );
      await waitFor(() => listen.err.includes(`exec ${id} crew`), "the exec's environment");
    } finally {
      await listen.stop();
    }
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
    const taken = await run(a, ["group", "create", "b", "c"]);
    assertEquals(taken.code, 1, taken.stderr);
    assertOk(taken.stderr.includes('is named "b"; give the group another name'), taken.stderr);
    const badName = await run(a, ["group", "create", "no/slash", "c"]);
    assertOk(
      badName.stderr.includes('schied: error: Invalid group name "no/slash"'),
      badName.stderr,
    );
    // Over the API as well as the CLI: a group has someone besides its creator.
    const solo = await createGroup(a.api, "solo", []).catch((e) => e);
    assertEquals([solo.code, solo.message], [
      "bad_request",
      "A group needs at least one member besides you",
    ]);
    const bad = await run(a, ["group", "frob"]);
    assertEquals(bad.code, 2);
    assertOk(bad.stderr.includes('unknown group command "frob"'), bad.stderr);

    assertEquals((await run(a, ["group", "add", "team", "d"])).code, 0);
    await waitEpoch(d, id, 2);
    // A file to the group of four: one transfer per member, each complete and verified.
    const path = await Deno.makeTempFile({ prefix: "schied-group-file-" });
    const bytes = crypto.getRandomValues(new Uint8Array(60_000));
    await Deno.writeFile(path, bytes);
    const filed = await run(a, ["send", "team", "--file", path, "--wait"]);
    assertEquals(filed.code, 0, filed.stderr);
    assertEquals(filed.stdout.trim().split("\n").length, 3, filed.stdout);
    const sha = toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
    for (const x of [b, c, d]) {
      const fs = await listFiles(x.api);
      assertEquals(fs.map((f) => [f.state, f.sha256, f.peer]), [["complete", sha, a.id]]);
    }
    await Deno.remove(path);
    // The same over the API, as curl -T does: one upload, a transfer per member, same bytes.
    const other = crypto.getRandomValues(new Uint8Array(5_000));
    const put = await uploadFile(a.api, { to: "team", name: "notes.bin", body: other });
    assertOk("files" in put, JSON.stringify(put));
    assertEquals([put.group, put.files.map((f) => f.peer).sort()], [id, [b.id, c.id, d.id].sort()]);
    const sha2 = toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", other)));
    assertEquals(new Set(put.files.map((f) => f.sha256)), new Set([sha2]));
    for (const x of [b, c, d]) {
      await waitFor(
        async () =>
          (await listFiles(x.api)).some((f) => f.sha256 === sha2 && f.state === "complete"),
        `${x.id} has notes.bin`,
        20_000,
      );
    }
    // Each member's copy says which group it came in; b lists the group's files by its name.
    for (const x of [a, b, c, d]) {
      const fs = (await listFiles(x.api)).filter((f) => f.sha256 === sha2);
      assertEquals(fs.map((f) => f.group), fs.map(() => id), `${x.id}: tagged with the group`);
    }
    assertEquals(
      (await listFiles(b.api, { with: "crew" })).map((f) => f.sha256),
      [sha2, sha],
      "GET /files?with=GROUP: both files sent to it (send --file too), newest first",
    );
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
    // It opened with the group's history, each line with its sender.
    assertOk(/: hello team$/m.test(chat.stdout), chat.stdout);
    await waitFor(
      async () => (await groupTexts(a, id)).includes("from the chat"),
      "a has it",
      20_000,
    );
    assertEquals(await groupTexts(c, id), ["hello team"]);
    assertEquals(await groupTexts(d, id), []);

    // The last admin leaves: the first remaining member becomes admin, and can change the group.
    const gone = await run(a, ["group", "leave", id]);
    assertEquals(gone.code, 0, gone.stderr);
    await waitEpoch(b, id, 5);
    const kept = (await getGroup(b.api, id))!;
    assertEquals([kept.members, kept.admins], [[b.id], [b.id]]);
    assertEquals((await run(b, ["group", "add", "crew", "c"])).code, 0, "b adds c back");
    await waitEpoch(c, id, 6);
  } finally {
    await p.done();
  }
});
