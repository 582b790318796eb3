/**
 * The README's CLI table and `schied --help` agree (issue 9, "Done when"): the same verbs, and
 * every flag the table names for a verb is one its `--help` lists.
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { cli } from "../daemon_harness.ts";

const README = new URL("../../README.md", import.meta.url);

/** The CLI table's rows: verb → the text of the row. */
async function readmeVerbs(): Promise<Map<string, string>> {
  const text = await Deno.readTextFile(README);
  const start = text.indexOf("## CLI");
  const section = text.slice(start, text.indexOf("\n## ", start + 1));
  const rows = new Map<string, string>();
  for (const line of section.split("\n")) {
    const m = /^\| `([a-z]+)[^`]*` +\|(.*)\|$/.exec(line);
    if (m) rows.set(m[1]!, (rows.get(m[1]!) ?? "") + line);
  }
  return rows;
}

Deno.test("README CLI table: exactly the verbs of schied --help, with flags each verb has", async () => {
  const rows = await readmeVerbs();
  const help = (await cli(["--help"])).stdout;
  const verbs = [...help.slice(help.indexOf("Verbs:")).matchAll(/^ {2}([a-z]+) /gm)].map((m) =>
    m[1]!
  );
  assertEquals([...rows.keys()].sort(), [...verbs].sort(), "README verbs = --help verbs");
  const helps = await Promise.all(verbs.map((v) => cli([v, "--help"])));
  for (const [i, v] of verbs.entries()) {
    const verbHelp = helps[i]!.stdout;
    for (const flag of rows.get(v)!.matchAll(/--[a-z][a-z-]*/g)) {
      assertOk(verbHelp.includes(flag[0]), `README names ${flag[0]} for ${v}; its --help does not`);
    }
  }
});
