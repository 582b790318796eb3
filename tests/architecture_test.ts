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
 * - `api/schemas.ts`, the data both sides speak, is neutral: zod and nothing of this project. The
 *   daemon takes from `api/` only those schemas' types, but for `daemon/mod.ts`, which serves it.
 * - The CLI's verbs other than `daemon`, `relay`, `init` and `id` reach the daemon only through
 *   `api/client.ts` (and its parts `api/client_*.ts`): nothing they load (transitively) is of
 *   `relay/`, of `daemon/` (but `state_dir.ts`, where a state dir's files are) or of `api/`'s
 *   server side.
 *
 * @module
 */
import { assertEquals, assertOk } from "./_assert.ts";
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

/** One import of a file: the file it names (from the root) or its bare specifier. */
interface Import {
  /** The imported file, relative to the root (relative specifiers only). */
  file?: string;
  /** A bare specifier (`npm:`, an import-map name, `node:`). */
  bare?: string;
  /** `import type`, `export type`, or every name marked `type`: gone at run time. */
  typeOnly: boolean;
}

/** Every import and re-export of a file, static and dynamic. */
async function importList(file: string): Promise<Import[]> {
  const text = await Deno.readTextFile(`${ROOT}/${file}`);
  const found = [
    ...[...text.matchAll(/^\s*(?:import|export)\b([^;]*?)\bfrom\s+"([^"]+)"/gms)].map((m) => ({
      head: m[1]!,
      spec: m[2]!,
    })),
    ...[...text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)].map((m) => ({ head: "", spec: m[1]! })),
  ];
  return found.map(({ head, spec }) => {
    const names = /\{([^}]*)\}/.exec(head)?.[1]?.split(",").map((n) => n.trim()).filter(Boolean);
    const typeOnly = /^\s*type\b/.test(head) ||
      (!!names && names.length > 0 && /^[^*]*$/.test(head) && !/^\s*\w+\s*,/.test(head) &&
        names.every((n) => n.startsWith("type ")));
    if (!spec.startsWith(".")) return { bare: spec, typeOnly };
    return { file: new URL(spec, `file:///${file}`).pathname.slice(1), typeOnly };
  });
}

/** The top-level folders a file imports from (relative imports) and its bare specifiers. */
async function importsOf(file: string): Promise<{ folders: Set<string>; bare: Set<string> }> {
  const folders = new Set<string>();
  const bare = new Set<string>();
  for (const i of await importList(file)) {
    if (i.file) folders.add(i.file.split("/")[0]!);
    if (i.bare) bare.add(i.bare);
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

Deno.test("architecture: api/schemas.ts is neutral, and the daemon takes only its types", async () => {
  const broken: string[] = [];
  for (const i of await importList("api/schemas.ts")) {
    if (i.file || !/^(zod|@hono\/zod-openapi)$/.test(i.bare!)) {
      broken.push(`api/schemas.ts imports ${i.file ?? i.bare}`);
    }
  }
  const server = new Set(["daemon/mod.ts"]);
  for (const file of await sources("daemon")) {
    for (const i of await importList(file)) {
      if (!i.file?.startsWith("api/") || server.has(file)) continue;
      if (i.file !== "api/schemas.ts" || !i.typeOnly) broken.push(`${file} imports ${i.file}`);
    }
  }
  assertEquals(broken, []);
});

Deno.test("architecture: the CLI's client verbs reach the daemon only through api/client.ts", async () => {
  const own = new Set([
    "cmd/daemon.ts",
    "cmd/relay.ts",
    "cmd/init.ts",
    "cmd/id.ts",
    "cmd/schied.ts",
  ]);
  const client = new Set(["api/client.ts", "api/sse_parse.ts", "api/token.ts"]);
  // api/client_*.ts are parts of the typed client (routes it serves beyond JSON: file bodies).
  const allowed = (f: string) =>
    client.has(f) || /^api\/client_[a-z_]+\.ts$/.test(f) || f === "daemon/state_dir.ts" ||
    !/^(relay|daemon|api)\//.test(f);
  const broken = new Set<string>();
  const verbs = (await sources("cmd")).filter((f) => !own.has(f) && !/\/_[^/]*$/.test(f));
  assertOk(verbs.includes("cmd/send.ts") && verbs.includes("cmd/listen.ts"), verbs.join());
  for (const verb of verbs) {
    const seen = new Set([verb]);
    const todo = [verb];
    for (let f = todo.pop(); f !== undefined; f = todo.pop()) {
      for (const i of await importList(f)) {
        if (!i.file || i.typeOnly || seen.has(i.file)) continue;
        seen.add(i.file);
        if (!allowed(i.file)) broken.add(`${verb} loads ${i.file} (through ${f})`);
        else todo.push(i.file);
      }
    }
  }
  assertEquals([...broken], []);
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

Deno.test("architecture: the relay's link code knows only the Router and RegistryStore interfaces, not which it talks to", async () => {
  // relay/mod.ts picks the implementation (hub.ts and registry.ts, or cluster/ on Redis).
  const link = (await sources("relay")).filter((f) =>
    /^relay\/(link|_link_[a-z_]+|_send_answers)\.ts$/.test(f)
  );
  assertOk(link.includes("relay/link.ts") && link.includes("relay/_link_session.ts"), link.join());
  const broken: string[] = [];
  for (const file of link) {
    for (const i of await importList(file)) {
      if (i.file?.startsWith("relay/cluster/")) broken.push(`${file} imports ${i.file}`);
      if (i.file === "relay/registry.ts" && !i.typeOnly) broken.push(`${file} imports ${i.file}`);
    }
    // From hub.ts only the id's map key and types: never the Hub itself.
    const text = await Deno.readTextFile(`${ROOT}/${file}`);
    for (const m of text.matchAll(/^\s*import\s*\{([^}]*)\}\s*from\s+"\.\/hub\.ts"/gm)) {
      const values = m[1]!.split(",").map((n) => n.trim()).filter((n) => n && !/^type\s/.test(n));
      for (const v of values) if (v !== "idKey") broken.push(`${file} imports ${v} from hub.ts`);
    }
  }
  assertEquals(broken, []);
});
