/**
 * Running the scripts of scripts/ in a made-up home: HOME and XDG_STATE_HOME point into a temp
 * dir, Deno keeps its module cache where it already is (so the home stays empty unless schied
 * itself writes there).
 *
 * @module
 */
import { ROOT } from "../harness.ts";

/** What a script run printed and returned. */
export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Deno's cache dir of the test process, handed on so a temp HOME gets no ~/.cache/deno. */
export function denoDir(): string {
  const env = Deno.env.toObject();
  return env.DENO_DIR ?? `${env.XDG_CACHE_HOME ?? `${env.HOME}/.cache`}/deno`;
}

/**
 * Runs `cmd args` with a clean environment: PATH (with `path` in front), HOME, XDG_STATE_HOME
 * and DENO_DIR, plus `env`.
 */
export async function runScript(
  cmd: string,
  args: string[],
  o: { home: string; stateHome?: string; path?: string; env?: Record<string, string> },
): Promise<ScriptResult> {
  const env: Record<string, string> = {
    PATH: [o.path, Deno.env.get("PATH")].filter(Boolean).join(":"),
    HOME: o.home,
    XDG_STATE_HOME: o.stateHome ?? `${o.home}/.local/state`,
    DENO_DIR: denoDir(),
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
    ...o.env,
  };
  const deno = Deno.env.get("SCHIED_DENO");
  if (deno) env.SCHIED_DENO = deno;
  const out = await new Deno.Command(cmd, {
    args,
    env,
    clearEnv: true,
    cwd: o.home,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Every path under `dir` (relative, sorted); bounded by `max` entries. */
export async function listTree(dir: string, max = 10_000): Promise<string[]> {
  const out: string[] = [];
  const todo = [""];
  for (let rel = todo.pop(); rel !== undefined && out.length < max; rel = todo.pop()) {
    for await (const e of Deno.readDir(`${dir}/${rel}`)) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      out.push(path);
      if (e.isDirectory) todo.push(path);
    }
  }
  return out.sort();
}

/** The launcher and the install script of this checkout. */
export const LAUNCHER = `${ROOT}/scripts/schied`;
/** scripts/install of this checkout. */
export const INSTALL = `${ROOT}/scripts/install`;
