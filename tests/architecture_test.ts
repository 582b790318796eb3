/**
 * The architecture's boundaries, enforced: who may import whom, and what `protocol/` may not
 * touch. Reads the sources' import statements (static and dynamic) and scans for I/O globals.
 *
 * - `protocol/` is wire format and crypto: it imports only itself and crypto libraries, and uses
 *   no network, disk or clock (`Deno.*`, `fetch`, `Date.now`, timers).
 * - `relay/` is the untrusted server: it never imports `daemon/`, `api/` or `cmd/`.
 * - `lib/` knows neither role: no `relay/`, `daemon/`, `api/` or `cmd/`.
 * - `daemon/` (the holder of secrets) does not import `relay/` or `cmd/`; `api/` imports
 *   `daemon/` only for its service interface types, and never `relay/` or `cmd/`.
 *
 * @module
 */
import { assertEquals } from "./_assert.ts";
import { ROOT } from "./harness.ts";

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${ROOT}/${dir}`)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await sources(path));
    else if (e.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** The top-level folders a file imports from (relative imports) and its bare specifiers. */
async function importsOf(file: string): Promise<{ folders: Set<string>; bare: Set<string> }> {
  const text = await Deno.readTextFile(`${ROOT}/${file}`);
  const folders = new Set<string>();
  const bare = new Set<string>();
  const specs = [
    ...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"/gms),
    ...text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g),
  ].map((m) => m[1]!);
  for (const spec of specs) {
    if (spec.startsWith(".")) {
      const resolved = new URL(spec, `file:///${file}`).pathname.slice(1);
      folders.add(resolved.split("/")[0]!);
    } else bare.add(spec);
  }
  return { folders, bare };
}

const RULES: Record<string, string[]> = {
  protocol: ["relay", "daemon", "api", "cmd", "lib"],
  relay: ["daemon", "api", "cmd"],
  lib: ["relay", "daemon", "api", "cmd", "protocol"],
  daemon: ["relay", "cmd"],
  api: ["relay", "cmd"],
};

Deno.test("architecture: no folder imports one it must not", async () => {
  const broken: string[] = [];
  for (const [dir, banned] of Object.entries(RULES)) {
    for (const file of await sources(dir)) {
      const { folders } = await importsOf(file);
      for (const f of banned) if (folders.has(f)) broken.push(`${file} imports ${f}/`);
    }
  }
  assertEquals(broken, []);
});

Deno.test("architecture: protocol/ imports only crypto libraries and uses no I/O or clock", async () => {
  const allowed = /^(@noble\/|node:crypto$)/;
  const io = /\bDeno\.|\bfetch\(|\bDate\.now\(|\bnew Date\(|\bsetTimeout\(|\bsetInterval\(/;
  const broken: string[] = [];
  for (const file of await sources("protocol")) {
    const { bare } = await importsOf(file);
    for (const b of bare) if (!allowed.test(b)) broken.push(`${file} imports ${b}`);
    const code = (await Deno.readTextFile(`${ROOT}/${file}`))
      .replace(/\/\*[\s\S]*?\*\//g, "")
      .replace(/\/\/.*$/gm, "");
    if (io.test(code)) broken.push(`${file} uses ${io.exec(code)![0]}`);
  }
  assertEquals(broken, []);
});

Deno.test("architecture: api/ takes only types from daemon/ (the service interface)", async () => {
  const broken: string[] = [];
  for (const file of await sources("api")) {
    const text = await Deno.readTextFile(`${ROOT}/${file}`);
    for (
      const m of text.matchAll(/^\s*import\s+(type\s+)?[^;]*?from\s+"([^"]*daemon\/[^"]*)"/gms)
    ) {
      const typeOnly = !!m[1] || /^\s*import\s*\{\s*(type\s+\w+\s*,?\s*)+\}/m.test(m[0]);
      if (!typeOnly && !m[2]!.endsWith("daemon/service.ts")) broken.push(`${file}: ${m[2]}`);
    }
  }
  assertEquals(broken, []);
});
