import { assertEquals, assertOk } from "../_assert.ts";
import { ERRORS } from "../../api/mod.ts";
import { EVENT_DATA } from "../../api/schemas.ts";
import { startApi } from "./_helpers.ts";

type Op = { security?: unknown[]; responses: Record<string, Record<string, unknown>> };
type Doc = {
  openapi: string;
  paths: Record<string, Record<string, Op>>;
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
  security: unknown[];
};

Deno.test("/openapi.json lists exactly the app's routes, each with responses", async () => {
  await using api = startApi();
  const res = await api.fetch("/openapi.json");
  assertEquals(res.status, 200);
  const doc: Doc = await res.json();
  assertEquals(doc.openapi, "3.1.0");
  // The server entry is the address the document was fetched from (not a fixed 7777).
  assertEquals(
    (doc as unknown as { servers: { url: string }[] }).servers,
    [{ url: `http://127.0.0.1:${api.server.port}` }],
  );
  // A route's checks are handlers too: a route appears once per handler in app.routes.
  const inApp = [
    ...new Set(
      api.server.app.routes
        .filter((r) => r.method !== "ALL")
        .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z]+)/g, "{$1}")}`),
    ),
  ].sort();
  const inDoc = Object.entries(doc.paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
  assertEquals(inDoc, inApp);
  assertEquals(inApp.length, 34);
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const params of path.matchAll(/\{(\w+)\}/g)) {
      for (const op of Object.values(ops)) {
        const names = ((op as { parameters?: { name: string }[] }).parameters ?? []).map((p) =>
          p.name
        );
        assertOk(names.includes(params[1]!), `${path} documents {${params[1]}}`);
      }
    }
    for (const [method, op] of Object.entries(ops)) {
      const statuses = Object.keys(op.responses);
      assertOk(statuses.some((s) => s.startsWith("2")), `${method} ${path} has a success`);
      for (const s of statuses.filter((s) => Number(s) >= 400)) {
        assertEquals(
          op.responses[s]!.content,
          { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
          `${method} ${path} ${s}`,
        );
      }
      const open = path === "/health";
      assertEquals(op.security, open ? [] : undefined, `${method} ${path} security`);
      if (!open) assertOk(statuses.includes("401"), `${method} ${path} documents 401`);
    }
  }
  assertEquals(doc.security, [{ bearer: [] }]);
  assertEquals(doc.components.securitySchemes.bearer, { type: "http", scheme: "bearer" });
  const error = JSON.stringify(doc.components.schemas.Error);
  for (const e of ERRORS) assertOk(error.includes(`"${e.code}"`), e.code);
  // Every $ref resolves.
  for (const m of JSON.stringify(doc).matchAll(/"#\/components\/schemas\/(\w+)"/g)) {
    assertOk(doc.components.schemas[m[1]!], `schema ${m[1]}`);
  }
});

Deno.test("README.md's event table has exactly the event types and fields of EVENT_DATA", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const lines = readme.split("\n");
  const start = lines.findIndex((l) => /^\| event +\| data +\|/.test(l));
  const end = lines.findIndex((l, i) => i > start && !l.startsWith("|"));
  const rows = lines.slice(start + 2, end).map((l) =>
    l.split("|").slice(1, 3).map((c) => c.trim())
  );
  assertEquals(rows.map((r) => r[0]), Object.keys(EVENT_DATA).map((t) => `\`${t}\``));
  for (const [type, data] of rows) {
    const fields = Object.keys(EVENT_DATA[type!.slice(1, -1) as keyof typeof EVENT_DATA].shape);
    const named = [...data!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!);
    for (const f of fields) assertOk(named.includes(f), `${type} names ${f}`);
  }
});
