import { HTTPException } from "hono/http-exception";
import { assertEquals } from "../_assert.ts";
import { ServiceError, type ServiceErrorCode } from "../../daemon/service.ts";
import { ApiFailure, ERRORS, type HttpErrorCode, SseParser, toErrorBody } from "../../api/mod.ts";
import { rawRequest, startApi } from "./_helpers.ts";
import { HttpError } from "../../lib/net/mod.ts";

// Exhaustive by type: adding a code to ServiceErrorCode or HttpErrorCode breaks this until it is
// listed here; the service's codes are the daemon's only (no HTTP among them).
const SERVICE_CODES: Record<ServiceErrorCode, true> = {
  bad_request: true,
  not_found: true,
  recipient_unknown: true,
  text_too_long: true,
  text_empty: true,
  contact_exists: true,
  name_taken: true,
  key_mismatch: true,
  key_changed: true,
  idempotency_conflict: true,
  already_delivered: true,
  busy: true,
  file_too_large: true,
  file_not_ready: true,
  range_not_satisfiable: true,
  internal: true,
};
const HTTP_CODES: Record<HttpErrorCode, true> = {
  unauthorized: true,
  forbidden_origin: true,
  misdirected_host: true,
  body_too_large: true,
  invalid_json: true,
  unsupported_media_type: true,
  method_not_allowed: true,
  head_too_large: true,
};

Deno.test("the error table has exactly the service's and the HTTP layer's codes, once each", () => {
  const codes = ERRORS.map((e) => e.code);
  assertEquals(new Set(codes).size, codes.length);
  assertEquals(
    [...codes].sort(),
    [...Object.keys(SERVICE_CODES), ...Object.keys(HTTP_CODES)].sort(),
  );
  for (const e of ERRORS) assertEquals(e.http >= 400 && e.http < 600 && e.message !== "", true);
  const http = Object.fromEntries(ERRORS.map((e) => [e.code, e.http]));
  assertEquals(
    [http.unauthorized, http.forbidden_origin, http.misdirected_host, http.body_too_large],
    [401, 403, 421, 413],
  );
  assertEquals([http.recipient_unknown, http.busy], [404, 503]);
});

Deno.test("toErrorBody maps every kind of error in one place", () => {
  const seen: unknown[] = [];
  const log = (e: unknown) => seen.push(e);
  // lib/net refusing a body while a route reads it (a client that stopped mid-upload): its own.
  assertEquals(
    toErrorBody(new HttpError(400, "Connection closed in the middle of a body"), log).error,
    { code: "bad_request", message: "Connection closed in the middle of a body", http: 400 },
  );
  assertEquals(seen, [], "not an internal error");
  assertEquals(toErrorBody(new ServiceError("name_taken", "two bobs"), log), {
    error: { code: "name_taken", message: "two bobs", http: 409 },
  });
  assertEquals(toErrorBody(new ApiFailure("unauthorized"), log).error.http, 401);
  let syntax: unknown;
  try {
    JSON.parse("{");
  } catch (e) {
    syntax = e;
  }
  assertEquals(toErrorBody(syntax, log).error.code, "invalid_json");
  assertEquals(toErrorBody(new HTTPException(413), log).error.code, "body_too_large");
  assertEquals(toErrorBody(new HTTPException(418), log).error.code, "internal");
  assertEquals(toErrorBody(new ServiceError("nope" as never, "x"), log).error.code, "internal");
  assertEquals(toErrorBody("a string", log), {
    error: { code: "internal", message: "Internal error", http: 500 },
  });
  assertEquals(seen.length, 3);
});

Deno.test("SseParser: line endings across chunks, comments, multi-line data, BOM, ids", () => {
  const p = new SseParser(true);
  const out = [
    ...p.push('\ufeffretry: 1500\r\n: hello\r\nid: 4\revent: status\ndata:{"a":'),
    ...p.push("1}\r"),
    ...p.push("\n\r\ndata: x\ndata:  y\n\nid\nevent: e\ndata\n\n"),
    ...p.push("data: unfinished"),
  ];
  assertEquals(out, [
    { id: "4", event: "status", data: '{"a":1}' },
    { id: "4", event: "message", data: "x\n y" },
    { id: "", event: "e", data: "" },
  ]);
  assertEquals([p.retry, p.comments], [1500, ["hello"]]);
});

Deno.test("README.md's error table has exactly the codes and statuses of ERRORS", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const lines = readme.split("\n");
  const start = lines.findIndex((l) => /^\| code +\| HTTP +\|/.test(l));
  const end = lines.findIndex((l, i) => i > start && !l.startsWith("|"));
  const rows = lines.slice(start + 2, end).map((l) =>
    l.split("|").slice(1, 3).map((c) => c.trim())
  );
  assertEquals(rows, ERRORS.map((e) => [`\`${e.code}\``, String(e.http)]));
});

Deno.test("what the HTTP layer refuses before any route answers in the API's error format, with its headers", async () => {
  await using api = startApi();
  const port = api.server.port;
  const auth = `Authorization: Bearer ${api.token}`;
  const cases = [
    // Over the connection's cap (1 MiB here; max-file-bytes + 1 MiB in the daemon).
    [
      `PUT /files?to=bob&name=x.bin HTTP/1.1\nHost: 127.0.0.1:${port}\n${auth}\nContent-Length: 300000000\n`,
      413,
      "file_too_large",
    ],
    [
      `POST /send HTTP/1.1\nHost: 127.0.0.1:${port}\n${auth}\nContent-Type: application/json\nContent-Length: 300000000\n`,
      413,
      "body_too_large",
    ],
    [
      `GET /health HTTP/1.1\nHost: 127.0.0.1:${port}\nX-Big: ${"a".repeat(20_000)}\n`,
      431,
      "head_too_large",
    ],
    [
      `GET /health HTTP/1.1\nHost: 127.0.0.1:${port}\nContent-Length: 1\nContent-Length: 2\n`,
      400,
      "bad_request",
    ],
  ] as const;
  for (const [head, status, code] of cases) {
    const r = await rawRequest(port, head);
    assertEquals(r.status, status, r.body);
    assertEquals(r.headers.get("content-type"), "application/json");
    assertEquals(r.headers.get("x-content-type-options"), "nosniff");
    const body = JSON.parse(r.body);
    assertEquals([body.error.code, body.error.http], [code, status], r.body);
  }
  const big = await rawRequest(port, cases[0][0]);
  assertEquals(
    JSON.parse(big.body).error.message,
    `The file is larger than max-file-bytes (${api.fake.fileLimits().maxFileBytes} bytes)`,
  );
});
