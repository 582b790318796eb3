/**
 * `schied send GROUP --file PATH`: a file to a group is one transfer per member (each a file of
 * that pair, protocol/README.md sections 11.10 and 11.11), uploaded to the daemon once per
 * member; `--wait` follows each until its member has verified it. Used only by send.ts.
 *
 * @module
 */
import type { ApiClient } from "../api/client.ts";
import type { GroupRecord } from "./_group_api.ts";
import { followFile, openFile, sendFileAt } from "./_files_send.ts";
import { withApi } from "./_context.ts";
import { CliError, EXIT } from "./_output.ts";

/** Sends the file at `path` (`opened` for the first member) to every other member of `g`. */
export async function sendFileToGroup(
  api: ApiClient,
  g: GroupRecord,
  path: string,
  opened: { file: Deno.FsFile; size: number },
  o: { wait: boolean; since: number; timeoutMs: number; bar: boolean },
): Promise<number> {
  const label = g.name ?? g.id;
  if (g.state !== "member") {
    opened.file.close();
    throw new CliError(`you are no member of group ${label} (${g.state})`, EXIT.error);
  }
  const me = (await withApi(() => api.me())).id;
  const to = g.members.filter((m) => m !== me);
  if (to.length === 0) {
    opened.file.close();
    throw new CliError(`group ${label} has no other member`, EXIT.error);
  }
  const files = [];
  for (const [i, member] of to.entries()) {
    const f = await sendFileAt(api, member, path, i === 0 ? opened : await openFile(path), o.bar);
    console.log(f.id);
    files.push(f);
  }
  if (!o.wait) return EXIT.ok;
  const end = Date.now() + o.timeoutMs;
  for (const f of files) {
    await followFile(api, f, o.since, Math.max(1, end - Date.now()), o.bar);
  }
  return EXIT.ok;
}
