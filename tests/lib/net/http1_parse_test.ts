import fc from "fast-check";
import { assertEquals, assertOk, assertThrows } from "../../_assert.ts";
import {
  HttpError,
  MAX_HEADERS,
  parseRequestHead,
  type RequestHead,
} from "../../../lib/net/http1.ts";
import { bytes } from "./_helpers.ts";

const parse = (s: string) => parseRequestHead(bytes(s));

/** Asserts that parsing `head` is refused with `status` (and a message matching `msg`). */
function refused(head: string, status: number, msg?: RegExp): void {
  const e = assertThrows(() => parse(head), undefined, JSON.stringify(head));
  assertOk(e instanceof HttpError, `${JSON.stringify(head)}: ${e}`);
  assertEquals(e.status, status, `status of ${JSON.stringify(head)} (${e.message})`);
  if (msg) assertOk(msg.test(e.message), `${JSON.stringify(head)}: message ${e.message}`);
}

// --- parseRequestHead: requests it accepts ---------------------------------------------------

Deno.test("http1: parse table of good requests", () => {
  const none = { kind: "none" } as const;
  const cases: [string, Partial<RequestHead>][] = [
    ["GET / HTTP/1.1\r\nHost: x\r\n\r\n", {
      method: "GET",
      target: "/",
      minor: 1,
      headers: [["host", "x"]],
      body: none,
      keepAlive: true,
      expectContinue: false,
    }],
    ["GET /a/b?c=d&e=%20 HTTP/1.1\r\n\r\n", { target: "/a/b?c=d&e=%20", headers: [] }],
    ["PROPFIND /x HTTP/1.1\r\n\r\n", { method: "PROPFIND" }],
    ["M-SEARCH / HTTP/1.1\r\n\r\n", { method: "M-SEARCH" }],
    ["GET / HTTP/1.0\r\n\r\n", { minor: 0, keepAlive: false }],
    ["GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", { minor: 0, keepAlive: true }],
    ["GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", { keepAlive: true }],
    ["GET / HTTP/1.1\r\nConnection: close\r\n\r\n", { keepAlive: false }],
    ["GET / HTTP/1.1\r\nConnection: CLOSE\r\n\r\n", { keepAlive: false }],
    ["GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n", { keepAlive: false }],
    ["GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", {
      keepAlive: false,
    }],
    ["GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n", { keepAlive: true }],
    ["POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", { body: { kind: "length", length: 5 } }],
    ["POST / HTTP/1.1\r\nContent-Length:  \t12 \t\r\n\r\n", {
      body: { kind: "length", length: 12 },
    }],
    ["POST / HTTP/1.1\r\nContent-Length: 007\r\n\r\n", { body: { kind: "length", length: 7 } }],
    ["POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", { body: none }],
    ["POST / HTTP/1.1\r\nContent-Length: 999999999999999\r\n\r\n", {
      body: { kind: "length", length: 999999999999999 },
    }],
    ["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", { body: { kind: "chunked" } }],
    ["POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n", { body: { kind: "chunked" } }],
    ["POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", {
      expectContinue: true,
    }],
    ["POST / HTTP/1.1\r\nExpect: 100-Continue\r\n\r\n", { expectContinue: true }],
    // HTTP/1.0 clients do not wait for 100 Continue.
    ["POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", { expectContinue: false }],
    // Names lowercased, values trimmed of spaces and tabs, order and duplicates kept.
    ["GET / HTTP/1.1\r\nX-A: 1\r\nx-b:2\r\nX-A:  \t3 \t\r\nEmpty:\r\nTab: a\tb\r\n\r\n", {
      headers: [["x-a", "1"], ["x-b", "2"], ["x-a", "3"], ["empty", ""], ["tab", "a\tb"]],
    }],
    // obs-text (bytes 0x80-0xff) is kept, as latin1.
    ["GET / HTTP/1.1\r\nX: caf\xe9\r\n\r\n", { headers: [["x", "caf\xe9"]] }],
    ["GET / HTTP/1.1\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n", {
      headers: [["!#$%&'*+-.^_`|~09azaz", "v"]],
    }],
  ];
  // An HTTP/1.1 request needs its Host (400 otherwise): add one where a case has none.
  const HOST: [string, string] = ["host", "x"];
  for (const [bare, want] of cases) {
    const added = /^\S+ \S+ HTTP\/1\.1\r\n/.test(bare) && !/\r\nhost:/i.test(bare);
    const head = added ? bare.replace(/\r\n\r\n$/, "\r\nHost: x\r\n\r\n") : bare;
    const got = parse(head);
    for (const [k, v] of Object.entries(want)) {
      const actual = k === "headers" && added
        ? got.headers.filter(([n, x]) => n !== HOST[0] || x !== HOST[1])
        : got[k as keyof RequestHead];
      assertEquals(actual, v, `${k} of ${JSON.stringify(head)}`);
    }
  }
});

Deno.test("http1: an HTTP/1.1 request without exactly one Host is 400; HTTP/1.0 needs none", () => {
  refused("GET / HTTP/1.1\r\n\r\n", 400, /exactly one Host/);
  refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, /exactly one Host/);
  assertEquals(parse("GET / HTTP/1.0\r\n\r\n").minor, 0);
});

Deno.test("http1: exactly MAX_HEADERS header lines are accepted, one more is 431", () => {
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: ${i}\r\n`).join("");
  const host = "Host: x\r\n";
  assertEquals(
    parse(`GET / HTTP/1.1\r\n${host}${lines(MAX_HEADERS - 1)}\r\n`).headers.length,
    MAX_HEADERS,
  );
  refused(`GET / HTTP/1.1\r\n${lines(MAX_HEADERS + 1)}\r\n`, 431);
});

// --- parseRequestHead: refusals ---------------------------------------------------------------

Deno.test("http1: refusal table (status per malformed head)", () => {
  const cases: [string, number, string][] = [
    ["GET / HTTP/1.1\r\n", 400, "no end of head"],
    ["GET / HTTP/1.1\r\nHost: x\r\n", 400, "no blank line"],
    ["GET / HTTP/1.1\nHost: x\r\n\r\n", 400, "bare LF ends the request line"],
    ["GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", 400, "bare LF between headers"],
    ["GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 400, "bare CR in a value"],
    ["GET / HTTP/1.1\r\n\n\r\n\r\n", 400, "stray LF"],
    ["GET /\r\n\r\n", 400, "no version"],
    ["GET\r\n\r\n", 400, "method only"],
    ["GET  / HTTP/1.1\r\n\r\n", 400, "two spaces"],
    ["GET / HTTP/1.1 \r\n\r\n", 400, "trailing space"],
    [" GET / HTTP/1.1\r\n\r\n", 400, "leading space"],
    ["GET\t/ HTTP/1.1\r\n\r\n", 400, "tab as separator"],
    ["GET / http/1.1\r\n\r\n", 400, "lowercase protocol"],
    ["GET / HTTP/1.10\r\n\r\n", 400, "two-digit minor"],
    ["G(T / HTTP/1.1\r\n\r\n", 400, "method not a token"],
    ["GET * HTTP/1.1\r\n\r\n", 400, "asterisk-form"],
    ["GET http://x/ HTTP/1.1\r\n\r\n", 400, "absolute-form"],
    ["GET x HTTP/1.1\r\n\r\n", 400, "relative target"],
    ["GET / HTTP/2.0\r\n\r\n", 505, "HTTP/2"],
    ["GET / HTTP/1.2\r\n\r\n", 505, "HTTP/1.2"],
    ["GET / HTTP/0.9\r\n\r\n", 505, "HTTP/0.9"],
    ["GET / HTTP/3.1\r\n\r\n", 505, "HTTP/3.1"],
    ["GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "space before colon"],
    ["GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", 400, "tab before colon"],
    ["GET / HTTP/1.1\r\nHost x\r\n\r\n", 400, "no colon"],
    ["GET / HTTP/1.1\r\n: x\r\n\r\n", 400, "empty name"],
    ["GET / HTTP/1.1\r\nX(: x\r\n\r\n", 400, "name not a token"],
    ["GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400, "obs-fold with a space"],
    ["GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", 400, "obs-fold with a tab"],
    ["GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400, "first header line folded"],
    ["GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 400, "NUL in a value"],
    ["GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n", 400, "control character in a value"],
    ["GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n", 400, "DEL in a value"],
    ["GET / HTTP/1.1\r\nExpect: something\r\n\r\n", 417, "unknown expectation"],
    ["GET / HTTP/1.1\r\nExpect: 100-continue, x\r\n\r\n", 417, "a list with an unknown one"],
    ["GET / HTTP/1.1\r\nExpect: 100-continue\r\nExpect: 102\r\n\r\n", 417, "a second Expect"],
  ];
  for (const [head, status, why] of cases) {
    const e = assertThrows(() => parse(head), (e) => e instanceof HttpError, why);
    assertEquals((e as HttpError).status, status, `${why}: ${e.message}`);
    assertOk(e.message.length > 0, `${why}: says what was wrong`);
  }
});

Deno.test("http1: smuggling vectors are refused, never guessed", () => {
  const cases: [string, number, string][] = [
    ["Content-Length: 5\r\nTransfer-Encoding: chunked", 400, "CL then TE"],
    ["Transfer-Encoding: chunked\r\nContent-Length: 5", 400, "TE then CL"],
    ["Transfer-Encoding: chunked\r\nContent-Length: 0", 400, "TE with CL 0"],
    ["Transfer-Encoding: gzip\r\nContent-Length: 5", 400, "TE gzip with CL"],
    ["Content-Length: 5\r\nContent-Length: 5", 400, "two equal CLs"],
    ["Content-Length: 5\r\nContent-Length: 6", 400, "two different CLs"],
    ["Content-Length: 5, 5", 400, "a CL list"],
    ["Content-Length: 5 5", 400, "two numbers"],
    ["Content-Length: -1", 400, "negative CL"],
    ["Content-Length: +5", 400, "signed CL"],
    ["Content-Length: 0x10", 400, "hex CL"],
    ["Content-Length: 1e3", 400, "exponent CL"],
    ["Content-Length: 5.0", 400, "fractional CL"],
    ["Content-Length:", 400, "empty CL"],
    ["Content-Length: 1234567890123456", 400, "CL of 16 digits"],
    ["Content-Length: \xb5", 400, "non-ASCII CL"],
    ["Transfer-Encoding: gzip", 501, "TE gzip"],
    ["Transfer-Encoding: identity", 501, "TE identity"],
    ["Transfer-Encoding: gzip, chunked", 501, "TE gzip, chunked"],
    ["Transfer-Encoding: chunked, chunked", 501, "TE chunked twice in one line"],
    ["Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", 501, "two TE lines"],
    ["Transfer-Encoding: xchunked", 501, "TE xchunked"],
    ["Transfer-Encoding: chunked;q=1", 501, "TE with parameters"],
    ["Transfer-Encoding:", 501, "empty TE"],
    ["Transfer-Encoding : chunked", 400, "space before the colon of TE"],
    ["Content-Length : 5", 400, "space before the colon of CL"],
    ["X: a\r\n Transfer-Encoding: chunked", 400, "TE hidden in a folded line"],
  ];
  for (const [headers, status, why] of cases) {
    refused(`POST / HTTP/1.1\r\nHost: x\r\n${headers}\r\n\r\n`, status);
    void why;
  }
  // A bare LF cannot start a hidden header either.
  refused("POST / HTTP/1.1\r\nX: a\nContent-Length: 5\r\n\r\n", 400, /bare CR or LF/);
  refused("POST / HTTP/1.1\r\nX: a\rContent-Length: 5\r\n\r\n", 400, /bare CR or LF/);
});

Deno.test("http1: property: a well-formed head parses back to its parts", () => {
  const token = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,12}$/);
  const value = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e\t]{0,20}[\x21-\x7e])?$/);
  const name = token.filter((n) =>
    !["content-length", "transfer-encoding", "expect", "connection"].includes(n.toLowerCase())
  );
  fc.assert(
    fc.property(
      token,
      fc.stringMatching(/^\/[\x21-\x7e]{0,30}$/),
      fc.constantFrom(0, 1),
      fc.array(fc.tuple(name, value, fc.constantFrom("", " ", "\t", "  ")), { maxLength: 20 }),
      (method, target, minor, hs) => {
        // Exactly one Host (HTTP/1.1 needs it), first; the generated names are never "host".
        const all = [["Host", "x", ""] as const, ...hs.filter(([n]) => n.toLowerCase() !== "host")];
        const head = `${method} ${target} HTTP/1.${minor}\r\n` +
          all.map(([n, v, ws]) => `${n}:${ws}${v}${ws}\r\n`).join("") + "\r\n";
        const h = parse(head);
        assertEquals(h.method, method);
        assertEquals(h.target, target);
        assertEquals(h.minor, minor);
        assertEquals(h.headers, all.map(([n, v]) => [n.toLowerCase(), v]));
        assertEquals(h.body, { kind: "none" });
        assertEquals(h.keepAlive, minor === 1);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("http1: property: any bytes give a head or an HttpError, nothing else", () => {
  const piece = fc.oneof(
    fc.constantFrom(
      "GET / HTTP/1.1",
      "\r\n",
      "\n",
      "\r",
      ":",
      " ",
      "\t",
      "Content-Length: 5",
      "Transfer-Encoding: chunked",
      "Expect: 100-continue",
      "Connection: close",
      "HTTP/1.0",
      "\0",
      "\xff",
    ),
    fc.string({ maxLength: 8 }),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 30 }), (pieces) => {
      const text = pieces.join("").replace(/[^\0-\xff]/g, "?") + "\r\n\r\n";
      try {
        const h = parseRequestHead(bytes(text));
        assertOk(h.target.startsWith("/"));
      } catch (e) {
        assertOk(e instanceof HttpError, `not an HttpError: ${e}`);
        assertOk([400, 417, 431, 501, 505].includes(e.status), `status ${e.status}`);
      }
    }),
    { numRuns: 500 },
  );
});
