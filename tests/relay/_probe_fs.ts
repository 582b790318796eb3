/**
 * Run by permissions_test.ts with exactly the permissions scripts/schied grants the relay:
 * prints what the process may read and write.
 */
const [inside, outside] = Deno.args as [string, string];
async function attempt(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
    return "allowed";
  } catch (e) {
    return e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied
      ? "denied"
      : `error: ${(e as Error).name}`;
  }
}
console.log(JSON.stringify({
  readInside: await attempt(() =>
    Deno.writeTextFile(`${inside}/probe`, "x").then(() => Deno.readTextFile(`${inside}/probe`))
  ),
  readOutside: await attempt(() => Deno.readTextFile(outside)),
  writeOutside: await attempt(() => Deno.writeTextFile(`${outside}.new`, "x")),
  readEtc: await attempt(() => Deno.readTextFile("/etc/passwd")),
  run: await attempt(() => new Deno.Command("true").output()),
}));
