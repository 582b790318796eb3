/**
 * `schied send GROUP --file PATH` after its one upload: the daemon made one transfer per other
 * member (each a file of that pair, protocol/README.md sections 11.10 and 11.11, all of the same
 * bytes); their ids are printed, and `--wait` follows each until its member has verified it.
 * Used only by send.ts.
 *
 * @module
 */
import type { ApiClient } from "../api/client.ts";
import type { GroupFiles } from "../api/client_files.ts";
import { followFile } from "./_files_send.ts";
import { EXIT } from "./_output.ts";

/** Prints the transfers of a file sent to a group; with `wait`, follows them to the end. */
export async function followGroupFile(
  api: ApiClient,
  g: GroupFiles,
  o: { wait: boolean; since: number; timeoutMs: number; bar: boolean },
): Promise<number> {
  for (const f of g.files) console.log(f.id);
  if (!o.wait) return EXIT.ok;
  const end = Date.now() + o.timeoutMs;
  for (const f of g.files) {
    await followFile(api, f, o.since, Math.max(1, end - Date.now()), o.bar);
  }
  return EXIT.ok;
}
