/**
 * The previous release (commit 44d41ba, end-to-end `schied/1`, link version 1) as a real
 * process, for the cross-version tests (issue 10, item 4): its tree is extracted from this
 * repository's history once per test run (`git archive`, into a temp dir) and its daemon runs
 * with this tree's Deno, under the permissions its own launcher gave it. Its npm dependencies
 * come from its own deno.json and lock (fetched into the Deno cache the first time).
 *
 * @module
 */
import { ApiClient } from "../../api/mod.ts";
import { controls, pumpLines, ROOT, waitFor } from "../harness.ts";
import type { DaemonProcess } from "../daemon_harness.ts";

/** The previous release's commit. */
export const OLD_RELEASE = "44d41ba";

let tree: Promise<string> | undefined;

/** The previous release's tree, extracted on the first call (the same dir afterwards). */
export function oldReleaseTree(): Promise<string> {
  return tree ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: `schied-${OLD_RELEASE}-` });
    const out = await new Deno.Command("sh", {
      args: [
        "-c",
        'set -e; git -C "$0" archive "$1" | tar -x -C "$2"',
        ROOT,
        OLD_RELEASE,
        dir,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(
        `cannot extract ${OLD_RELEASE} (is the repository's history there?): ` +
          new TextDecoder().decode(out.stderr),
      );
    }
    return dir;
  })();
}

/**
 * Starts the previous release's `schied daemon` with `--api 127.0.0.1:0` in `stateDir` (a new
 * temp dir by default), as startDaemonProcess does for this release.
 */
export async function startOldDaemon(
  o: { relay?: string; stateDir?: string; args?: string[]; env?: Record<string, string> } = {},
): Promise<DaemonProcess> {
  const root = await oldReleaseTree();
  const stateDir = o.stateDir ?? await Deno.makeTempDir({ prefix: "schied-old-daemon-" });
  const args = ["daemon", "--api", "127.0.0.1:0", "--state-dir", stateDir, ...(o.args ?? [])];
  if (o.relay) args.push("--relay", o.relay);
  // Its launcher's permissions (scripts/schied at 44d41ba), with the ports left open on
  // 127.0.0.1: the API port is chosen by the kernel.
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--allow-net=127.0.0.1",
      "--allow-env",
      `--allow-read=${stateDir}`,
      `--allow-write=${stateDir}`,
      "--config",
      `${root}/deno.json`,
      `${root}/cmd/schied.ts`,
      ...args,
    ],
    cwd: root,
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...o.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  const info: Record<string, string> = {};
  void pumpLines(child.stderr, (l) => log.push(l));
  void pumpLines(child.stdout, (l) => {
    const [k, v] = l.split(" ", 2);
    if (k && v) info[k] = v;
  });
  const exited = child.status;
  await Promise.race([
    // The first start may fetch the release's npm packages.
    waitFor(() => info.api, `the ${OLD_RELEASE} daemon's API address`, 90_000),
    exited.then((s) => {
      throw new Error(
        `the ${OLD_RELEASE} daemon exited with ${s.code} before starting:\n${log.join("\n")}`,
      );
    }),
  ]);
  const token = (await Deno.readTextFile(`${stateDir}/api-token`)).trim();
  return {
    id: info.id!,
    apiUrl: info.api!,
    token,
    stateDir,
    api: new ApiClient({ baseUrl: info.api!, token }),
    child,
    log,
    ...controls(child),
  };
}
