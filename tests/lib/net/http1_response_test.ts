import { assertEquals, assertOk } from "../../_assert.ts";
import { encodeResponseHead, HttpError } from "../../../lib/net/http1.ts";

// --- encodeResponseHead -----------------------------------------------------------------------

Deno.test("http1: encodeResponseHead shapes", () => {
  const h = (o: Record<string, string>) => new Headers(o);
  const cases: [
    number,
    Headers | [string, string][],
    Parameters<typeof encodeResponseHead>[2],
    string,
  ][] = [
    [
      200,
      h({ "content-type": "text/plain" }),
      { length: 5, keepAlive: true },
      "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\n",
    ],
    [
      200,
      h({}),
      { length: 0, keepAlive: false },
      "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    ],
    [200, h({}), { keepAlive: true }, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"],
    [
      200,
      h({ "content-type": "text/event-stream" }),
      { chunked: true, keepAlive: true },
      "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
    ],
    [
      404,
      h({}),
      { length: 3, keepAlive: false },
      "HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\nconnection: close\r\n\r\n",
    ],
    // No framing headers on 1xx, 204 and 304.
    [204, h({}), { length: 0, keepAlive: true }, "HTTP/1.1 204 No Content\r\n\r\n"],
    [
      204,
      h({}),
      { length: 0, keepAlive: false },
      "HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n",
    ],
    [
      304,
      h({ etag: '"x"' }),
      { length: 9, keepAlive: true },
      'HTTP/1.1 304 Not Modified\r\netag: "x"\r\n\r\n',
    ],
    [100, [], { keepAlive: true }, "HTTP/1.1 100 Continue\r\n\r\n"],
    // The handler's own framing headers are dropped: the server frames the body itself.
    [
      200,
      h({
        "content-length": "999",
        "transfer-encoding": "gzip",
        connection: "keep-alive",
        "keep-alive": "timeout=5",
        "x-a": "1",
      }),
      { length: 2, keepAlive: true },
      "HTTP/1.1 200 OK\r\nx-a: 1\r\ncontent-length: 2\r\n\r\n",
    ],
    // Raw (101, HTTP/1.0 streams): the handler's headers as they are, nothing added.
    [
      101,
      h({ upgrade: "websocket", connection: "Upgrade", "sec-websocket-accept": "k" }),
      { keepAlive: true, raw: true },
      "HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nsec-websocket-accept: k\r\n" +
      "upgrade: websocket\r\n\r\n",
    ],
    [200, [["x", "y"]], { keepAlive: false, raw: true }, "HTTP/1.1 200 OK\r\nx: y\r\n\r\n"],
    // A status without a known reason keeps an empty one (the space stays).
    [299, h({}), { length: 0, keepAlive: true }, "HTTP/1.1 299 \r\ncontent-length: 0\r\n\r\n"],
  ];
  for (const [status, headers, f, want] of cases) {
    assertEquals(encodeResponseHead(status, headers, f), want, `${status} ${JSON.stringify(f)}`);
  }
});

Deno.test("http1: HttpError carries its status", () => {
  const e = new HttpError(431, "too big");
  assertOk(e instanceof Error);
  assertEquals([e.name, e.status, e.message], ["HttpError", 431, "too big"]);
});

Deno.test("http1: encodeResponseHead writes a Headers as its iterator would (sorted, combined, cookies apart)", () => {
  const headers = new Headers([
    ["set-cookie", "a=1"],
    ["set-cookie", "b=2"],
    ["X-B", "1"],
    ["x-a", "2"],
    ["x-a", "3"],
    ["content-length", "99"],
  ]);
  const pairs = [...headers] as [string, string][];
  const f = { length: 1, keepAlive: true };
  assertEquals(encodeResponseHead(200, headers, f), encodeResponseHead(200, pairs, f));
  assertEquals(
    encodeResponseHead(200, headers, f),
    "HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nset-cookie: b=2\r\nx-a: 2, 3\r\nx-b: 1\r\n" +
      "content-length: 1\r\n\r\n",
  );
});
