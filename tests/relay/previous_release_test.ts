/**
 * Relays are upgraded before daemons (protocol README, section 2): this release's relay serves
 * the link of the previous release's daemon, commit 44d41ba, at link version 1, and that daemon
 * exchanges envelopes with a daemon of this release. And the other way round, for the time a
 * relay is not upgraded yet: this release's daemon, offering [2, 1], is served version 1 by the
 * previous release's relay (its own launcher, scripts/schied, run from the unpacked commit). The old daemon's own LinkClient (and the
 * protocol code under it) is taken from the commit with `git archive`, so nothing of this tree
 * stands in for it. Without the commit in the clone (a shallow clone) the test fails, saying so.
 *
 * @module
 */
import { assertEquals } from "../_assert.ts";
import { connectClient, pumpLines, ROOT, startRelayProcess, waitFor } from "../harness.ts";

const PREVIOUS = "44d41ba";

async function git(args: string[], stdout: "piped" | "null" = "null"): Promise<Deno.CommandOutput> {
  return await new Deno.Command("git", { args: ["-C", ROOT, ...args], stdout, stderr: "piped" })
    .output();
}

/** The previous release's source, unpacked into a temp dir. Throws when the commit is missing. */
async function previousRelease(): Promise<string> {
  const has = await git(["cat-file", "-e", `${PREVIOUS}^{commit}`]);
  if (!has.success) {
    throw new Error(
      `Commit ${PREVIOUS} (the previous release, whose daemon this relay must still serve) is ` +
        `not in this clone, so compatibility cannot be tested: fetch the full history ` +
        `(git fetch --unshallow) and run again. git said: ${new TextDecoder().decode(has.stderr)}`,
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "schied-44d41ba-" });
  const archive = await git(["archive", "--format=tar", PREVIOUS], "piped");
  if (!archive.success) throw new Error(`git archive ${PREVIOUS} failed`);
  const tar = new Deno.Command("tar", { args: ["-x", "-C", dir], stdin: "piped" }).spawn();
  const w = tar.stdin.getWriter();
  await w.write(archive.stdout);
  await w.close();
  if (!(await tar.status).success) throw new Error(`Cannot unpack ${PREVIOUS} into ${dir}`);
  return dir;
}

Deno.test("a daemon of release 44d41ba logs in at link version 1 and talks to this release's", async () => {
  const dir = await previousRelease();
  const relay = await startRelayProcess({ args: ["--quiet"] });
  // deno-lint-ignore no-explicit-any
  const old: any = await import(`file://${dir}/daemon/link_client.ts`);
  // deno-lint-ignore no-explicit-any
  const oldCrypto: any = await import(`file://${dir}/protocol/_crypto.ts`);
  const oldKeys = async () => ({
    identity: await oldCrypto.signingKeyFromSeed(oldCrypto.randomSecret()),
    linkKey: await oldCrypto.generateDh(),
  });
  const gotOld: number[] = [];
  const gotNew: number[] = [];
  const oldLink = await old.LinkClient.connect({
    address: relay.address,
    ...(await oldKeys()),
    onDeliver: (_f: Uint8Array, e: Uint8Array) => gotOld.push(e[0]!),
  });
  const newLink = await connectClient(relay.address, {
    onDeliver: (_f, e) => gotNew.push(e[0]!),
  });
  try {
    assertEquals(newLink.version, 2);
    const nobody = new Uint8Array(16).fill(0x42);
    const fromOld = await Promise.all([
      oldLink.send(newLink.id, Uint8Array.of(1)),
      oldLink.send(nobody, Uint8Array.of(0)),
      oldLink.send(newLink.id, Uint8Array.of(2)),
    ]);
    assertEquals(fromOld.map((r: { status: string }) => r.status), [
      "delivered",
      "offline",
      "delivered",
    ]);
    const fromNew = await Promise.all([
      newLink.send(oldLink.id, Uint8Array.of(3)),
      newLink.send(oldLink.id, Uint8Array.of(4)),
    ]);
    assertEquals(fromNew.map((r) => r.status), ["delivered", "delivered"]);
    await waitFor(() => gotOld.length === 2 && gotNew.length === 2, "the envelopes to arrive");
    assertEquals([gotNew, gotOld], [[1, 2], [3, 4]]);
    // The old daemon's watches and presence work as before.
    const seen: boolean[] = [];
    const watcher = await old.LinkClient.connect({
      address: relay.address,
      ...(await oldKeys()),
      onPresence: (_id: Uint8Array, online: boolean) => seen.push(online),
    });
    watcher.watch([newLink.id]);
    await waitFor(() => seen.length === 1, "PRESENCE for the watched id");
    assertEquals(seen, [true]);
    await watcher.close();
  } finally {
    await oldLink.close();
    await newLink.close();
    await relay.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a daemon of this release is served link version 1 by a relay of release 44d41ba", async () => {
  const dir = await previousRelease();
  const state = await Deno.makeTempDir({ prefix: "schied-44d41ba-relay-" });
  const child = new Deno.Command(`${dir}/scripts/schied`, {
    args: ["relay", "--port", "0", "--state-dir", state, "--quiet"],
    env: { SCHIED_DENO: Deno.execPath(), DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  void pumpLines(child.stderr, (l) => log.push(l));
  let address = "";
  void pumpLines(child.stdout, (l) => (address ||= l.trim()));
  try {
    await Promise.race([
      waitFor(() => address, "the old relay's address", 30_000),
      child.status.then((s) => {
        throw new Error(`The ${PREVIOUS} relay exited with ${s.code}:\n${log.join("\n")}`);
      }),
    ]);
    const got: number[] = [];
    const a = await connectClient(address);
    const b = await connectClient(address, { onDeliver: (_f, e) => got.push(e[0]!) });
    assertEquals([a.version, b.version], [1, 1], "the highest version both speak");
    const r = await Promise.all([
      a.send(b.id, Uint8Array.of(1)),
      a.send(new Uint8Array(16).fill(0x42), Uint8Array.of(0)),
      a.send(b.id, Uint8Array.of(2)),
    ]);
    assertEquals(r.map((x) => x.status), ["delivered", "offline", "delivered"]);
    await waitFor(() => got.length === 2, "the envelopes to arrive");
    assertEquals(got, [1, 2]);
    await a.close();
    await b.close();
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
    await Deno.remove(state, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  }
});
