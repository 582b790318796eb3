/**
 * The files CLI's own checks, with no daemon: `send --file` of a missing file or a directory
 * is an error with a hint before any daemon is asked; text and --file together, and -o without
 * `files get`, are usage errors; the progress bar draws over itself and ends its line.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { cli } from "../daemon_harness.ts";
import { ProgressBar } from "../../cmd/_files_send.ts";

Deno.test("send --file: a missing file or a directory is refused before any daemon is asked", async () => {
  const dir = await Deno.makeTempDir({ prefix: "schied-files-cli-" });
  try {
    const env = { SCHIED_STATE_DIR: `${dir}/state` }; // no daemon has ever run there
    const missing = await cli(["send", "bob", "--file", `${dir}/nope.bin`], { env });
    assertEquals(missing.code, 1, missing.stderr);
    assertOk(
      /^schied: error: cannot read .*nope\.bin: .*\nschied: hint: check the path/.test(
        missing.stderr,
      ),
      missing.stderr,
    );
    const folder = await cli(["send", "bob", "--file", dir], { env });
    assertEquals(folder.code, 2, folder.stderr);
    assertOk(/is not a regular file\nschied: hint: send one file at a time/.test(folder.stderr));
    await Deno.writeTextFile(`${dir}/a.txt`, "x");
    const both = await cli(["send", "bob", "hello", "--file", `${dir}/a.txt`], { env });
    assertEquals(both.code, 2);
    assertOk(both.stderr.includes("--file sends a file: no text, --whole or --id with it"));
    const o = await cli(["files", "ls", "-o", `${dir}/x`], { env });
    assertEquals(o.code, 2);
    assertOk(o.stderr.includes("-o goes with 'files get'"), o.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the progress bar draws over itself, at most ten times a second, and ends its line", () => {
  const written: string[] = [];
  const out = {
    writeSync(b: Uint8Array) {
      written.push(new TextDecoder().decode(b));
      return b.length;
    },
  } as unknown as typeof Deno.stderr;
  const bar = new ProgressBar("f.bin: upload", 4 * 1024 * 1024, true, out);
  bar.update(1024 * 1024);
  bar.update(2 * 1024 * 1024); // within 100 ms of the last: not drawn
  bar.update(4 * 1024 * 1024); // the end: always drawn
  bar.end();
  assertEquals(written.length, 3);
  assertOk(written[0]!.startsWith("\rf.bin: upload [######------------------]  25% 1.0/4.0 MiB"));
  assertOk(written[1]!.includes("[########################] 100% 4.0/4.0 MiB"), written[1]);
  assertEquals(written[2], "\n");
  const off: string[] = [];
  const quiet = new ProgressBar(
    "x",
    10,
    false,
    {
      writeSync: (b: Uint8Array) => (off.push("x"), b.length),
    } as unknown as typeof Deno.stderr,
  );
  quiet.update(10);
  quiet.end();
  assertEquals(off, [], "nothing when stderr is no terminal");
});
