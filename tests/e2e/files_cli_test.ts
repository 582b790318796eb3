/**
 * Files through the CLI and curl, real processes: `schied send --file --wait` and
 * `schied listen --save-dir` (the file lands there, whole), `schied files ls|get -o`;
 * `curl -T` (raw, streamed) and `curl -F` (multipart) uploads; a download with its
 * Content-Type, Content-Disposition and a Range.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { cli, spawnCli, startPair } from "../daemon_harness.ts";
import { waitFor } from "../harness.ts";
import { api, sha256Hex, testBytes, waitFileState } from "./_files.ts";
import type { FileRecord } from "../../daemon/service.ts";

async function curl(args: string[]): Promise<{ code: number; out: string }> {
  const r = await new Deno.Command("curl", { args: ["-sS", ...args], stdout: "piped" }).output();
  return { code: r.code, out: new TextDecoder().decode(r.stdout) };
}

Deno.test("files by CLI and curl: send --file, listen --save-dir, files ls|get, -T, -F, Range", async () => {
  const { a, b, done } = await startPair();
  const dir = await Deno.makeTempDir({ prefix: "schied-files-cli-" });
  const saved = `${dir}/saved`;
  await Deno.mkdir(saved);
  const listen = spawnCli(["listen", "--save-dir", saved, "--state-dir", b.stateDir], {
    stdin: "null",
  });
  try {
    const bytes = testBytes(2 * 1024 * 1024 + 5);
    await Deno.writeFile(`${dir}/report.pdf`, bytes);
    const sent = await cli([
      "send",
      b.id,
      "--file",
      `${dir}/report.pdf`,
      "--wait",
      "--state-dir",
      a.stateDir,
    ]);
    assertEquals(sent.code, 0, sent.stderr);
    const id = sent.stdout.trim();
    assertOk(/^[0-9a-f]{32}$/.test(id), sent.stdout);
    // listen wrote it into the save dir, under its name.
    await waitFor(() => Deno.stat(`${saved}/report.pdf`).then(() => true, () => false), "saved");
    assertEquals(sha256Hex(await Deno.readFile(`${saved}/report.pdf`)), sha256Hex(bytes));
    // A second listen replaying from the start saves nothing twice: the file is there already.
    await waitFor(
      () => Deno.readTextFile(`${saved}/.schied-saved`).then((t) => t.includes(id), () => false),
      "the save dir's index",
    );
    const again = spawnCli([
      "listen",
      "--since",
      "0",
      "--save-dir",
      saved,
      "--state-dir",
      b.stateDir,
    ], {
      stdin: "null",
    });
    try {
      await waitFor(
        () => again.err.some((l) => l.includes("saved in") && l.includes("already")),
        "the replayed file seen as saved",
      );
      const names = (await Array.fromAsync(Deno.readDir(saved))).map((e) => e.name).sort();
      assertEquals(names, [".schied-saved", "report.pdf"]);
    } finally {
      await again.stop();
    }
    const ls = await cli(["files", "ls", "--json", "--state-dir", b.stateDir]);
    const files = JSON.parse(ls.stdout) as FileRecord[];
    assertEquals(files.map((f) => [f.id, f.state, f.name, f.type]), [
      [id, "complete", "report.pdf", "application/pdf"],
    ]);
    const got = await cli(["files", "get", id, "-o", `${dir}/out.pdf`, "--state-dir", b.stateDir]);
    assertEquals(got.code, 0, got.stderr);
    assertEquals(sha256Hex(await Deno.readFile(`${dir}/out.pdf`)), sha256Hex(bytes));

    // curl: -T (raw, PUT) and -F (multipart), then a Range of the download.
    const auth = ["-H", `@${a.stateDir}/api-auth-header`];
    const t = await curl([
      ...auth,
      "-T",
      `${dir}/report.pdf`,
      `${a.apiUrl}/files?to=${b.id}&name=t.bin`,
    ]);
    const tId = (JSON.parse(t.out) as FileRecord).id;
    const m = await curl([
      ...auth,
      "-F",
      `file=@${dir}/report.pdf;type=text/csv`,
      `${a.apiUrl}/files?to=${b.id}`,
    ]);
    const mRec = JSON.parse(m.out) as FileRecord;
    assertEquals([mRec.name, mRec.type, mRec.size], ["report.pdf", "text/csv", bytes.length]);
    for (const f of [tId, mRec.id]) await waitFileState(b, f, "complete");
    await waitFor(
      () => Deno.stat(`${saved}/report (2).pdf`).then(() => true, () => false),
      "no overwrite",
    );
    const res = await api(b, `/files/${tId}`, { headers: { range: "bytes=1000-1999" } });
    assertEquals(res.status, 206);
    assertEquals(res.headers.get("content-range"), `bytes 1000-1999/${bytes.length}`);
    assertEquals(res.headers.get("content-type"), "application/octet-stream");
    assertEquals(
      res.headers.get("content-disposition"),
      `attachment; filename="t.bin"; filename*=UTF-8''t.bin`,
    );
    assertEquals(new Uint8Array(await res.arrayBuffer()), bytes.slice(1000, 2000));
    const tail = await api(b, `/files/${tId}`, { headers: { range: "bytes=-10" } });
    assertEquals(new Uint8Array(await tail.arrayBuffer()), bytes.slice(-10));
    const out = await api(b, `/files/${tId}`, { headers: { range: `bytes=${bytes.length}-` } });
    assertEquals([out.status, out.headers.get("content-range")], [416, `bytes */${bytes.length}`]);
    await out.body?.cancel();
  } finally {
    await listen.stop();
    await done();
    await Deno.remove(dir, { recursive: true });
  }
});
