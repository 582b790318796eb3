/**
 * A file's limits, real processes: an upload over max-file-bytes gets 413 before any byte is
 * stored (by its Content-Length; and when chunked, as soon as it is longer, its partial copy
 * deleted); a stranger's file is held and nothing of it is written to disk until it is
 * accepted; the per-peer quota refuses a file on both sides, and deleting one frees its room.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { startDaemonProcess, waitOnline } from "../daemon_harness.ts";
import { startRelayProcess, waitFor } from "../harness.ts";
import type { FileRecord } from "../../daemon/service.ts";
import { api, download, sha256Hex, testBytes, upload, waitFileState } from "./_files.ts";

/** The names under `dir`, or [] when it does not exist. */
async function entries(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

async function world(args: { a?: string[]; b?: string[] } = {}, contacts = true) {
  const relay = await startRelayProcess();
  const a = await startDaemonProcess({ relay: relay.address, args: args.a ?? [] });
  const b = await startDaemonProcess({ relay: relay.address, args: args.b ?? [] });
  await Promise.all([waitOnline(a), waitOnline(b)]);
  await a.api.addContact({ id: b.id });
  if (contacts) await b.api.addContact({ id: a.id });
  return {
    a,
    b,
    async done() {
      const codes = [await a.stop(), await b.stop(), await relay.stop()];
      assertEquals(codes, [0, 0, 0]);
    },
  };
}

async function errorOf(res: Response): Promise<[number, string]> {
  return [res.status, (await res.json()).error.code];
}

Deno.test("an upload over max-file-bytes: 413 before any byte is stored, chunked or not", async () => {
  const { a, b, done } = await world({ a: ["--max-file-bytes", "1048576"] });
  try {
    const q = `/files?to=${b.id}&name=big.bin`;
    const big = testBytes(2 * 1024 * 1024);
    assertEquals(await errorOf(await api(a, q, { method: "PUT", body: big })), [
      413,
      "file_too_large",
    ]);
    assertEquals(await entries(`${a.stateDir}/files`), [], "the store was not even created");
    // Chunked (no Content-Length): refused once it is longer, the partial copy deleted.
    let i = 0;
    const chunked = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (i >= 32) return ctl.close();
        ctl.enqueue(big.slice(i * 65536, ++i * 65536));
      },
    });
    const res = await api(a, q, { method: "PUT", body: chunked }).catch((e) => e as Error);
    if (res instanceof Response) assertEquals(await errorOf(res), [413, "file_too_large"]);
    else assertOk(/reset|closed|broken/i.test(res.message), `or the daemon cut it off: ${res}`);
    await waitFor(async () => (await entries(`${a.stateDir}/files/out`)).length === 0, "deleted");
    // And curl sending stdin chunked (`-T -`) with the size declared as ?size=: refused before
    // any byte is read (curl reads the early answer; fetch would only see the closed pipe).
    const path = await Deno.makeTempFile();
    await Deno.writeFile(path, big);
    const curl = await new Deno.Command("sh", {
      args: [
        "-c",
        `curl -sS -o /dev/null -w '%{http_code}' -H @"$1/api-auth-header" -T - "$2" < "$3"`,
        "sh",
        a.stateDir,
        `${a.apiUrl}${q}&size=${big.length}`,
        path,
      ],
      stdout: "piped",
    }).output();
    await Deno.remove(path);
    assertEquals(new TextDecoder().decode(curl.stdout), "413");
    assertEquals(await entries(`${a.stateDir}/files/out`), []);
    assertEquals((await a.api.request("GET", "/files").then((r) => r.json())).files, []);
    // Within the limit it goes.
    const ok = await upload(a, b.id, big.slice(0, 1048576));
    await waitFileState(b, ok.id, "complete");
  } finally {
    await done();
  }
});

Deno.test("a stranger's file is held, nothing written to disk, until accepted", async () => {
  const { a, b, done } = await world({}, false);
  try {
    const bytes = testBytes(1024 * 1024 + 3, 4);
    const f = await upload(a, b.id, bytes, "from-a-stranger.bin");
    await waitFileState(b, f.id, "held");
    assertEquals((await b.api.requests()).map((r) => r.id), [a.id], "A is a message request");
    assertEquals(await entries(`${b.stateDir}/files`), [], "nothing on B's disk");
    assertEquals((await waitFileState(a, f.id, "offered")).bytes, 0);
    const held = await api(b, `/files/${f.id}`);
    assertEquals(await errorOf(held), [409, "file_not_ready"]);
    const accepted = await api(b, `/files/${f.id}/accept`, { method: "POST" });
    assertEquals((await accepted.json() as FileRecord).state, "receiving");
    await waitFileState(b, f.id, "complete");
    await waitFileState(a, f.id, "complete");
    assertEquals(sha256Hex(await download(b, f.id)), sha256Hex(bytes));
  } finally {
    await done();
  }
});

Deno.test("the per-peer quota refuses a file on both sides; deleting one frees its room", async () => {
  const { a, b, done } = await world({ b: ["--file-quota", "3000000"] });
  try {
    const first = await upload(a, b.id, testBytes(2_000_000, 1));
    await waitFileState(b, first.id, "complete");
    const second = await upload(a, b.id, testBytes(2_000_000, 2));
    const atB = await waitFileState(b, second.id, "failed");
    const atA = await waitFileState(a, second.id, "failed");
    assertEquals([atB.reason, atA.reason], ["quota", "quota"]);
    assertEquals(await entries(`${b.stateDir}/files/in`), [first.id], "only the first on disk");
    const del = await api(b, `/files/${first.id}`, { method: "DELETE" });
    assertEquals((await del.json() as FileRecord).state, "failed");
    await waitFor(async () => (await entries(`${b.stateDir}/files/in`)).length === 0, "deleted");
    const third = await upload(a, b.id, testBytes(2_000_000, 3));
    await waitFileState(b, third.id, "complete");
    await waitFileState(a, third.id, "complete");
  } finally {
    await done();
  }
});
