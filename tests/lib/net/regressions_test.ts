/**
 * Regression tests for bugs found in lib/net/server.ts and lib/net/websocket.ts by the first
 * round of tests, each fixed: a lazy 100 Continue, chunked bodies copied out of the read buffer,
 * body errors answered with their status, small head limits enforced, `connection: close` on
 * closing responses, HEAD's Content-Length, frames held until after the 101, pauses that hold
 * every message, and application callbacks that throw.
 *
 * @module
 */
import { assertEquals, assertOk } from "../../_assert.ts";
import { waitFor } from "../../harness.ts";
import { type ServerWebSocket, upgradeWebSocket } from "../../../lib/net/mod.ts";
import { frame, Peer, rawWebSocket, readFrame, settle, startServer } from "./_helpers.ts";

const dec = new TextDecoder();
const echo = async (req: Request) => new Response(await req.arrayBuffer());

// 1. server.ts:476 (#bodyStream): `new ReadableStream({ pull })` has the default high-water
//    mark of 1, so the stream pulls once as soon as it is made, before the handler runs: the
//    100 Continue is written eagerly (server.ts:481), and a handler that refuses the request
//    without reading (401, 413...) still invites the body. Fix: a high-water mark of 0
//    (`new ReadableStream({ pull }, { highWaterMark: 0 })`), so that pull runs on first read.
Deno.test("regression: Expect: 100-continue is sent only when the handler reads the body", async () => {
  await using s = startServer(() => new Response("no", { status: 401 }));
  await using p = await Peer.connect(s.port);
  await p.write("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  const r = await p.response();
  assertEquals(r.status, 401, "the first response is the 401, no 100 Continue before it");
});

// 2. server.ts:496: with a single piece of data in a ChunkedDecoder step, concat() returns it
//    as is, a view into the connection's read buffer; the buffer is then shifted (#consume,
//    copyWithin) and refilled by the next read, so the chunk the handler gets changes under
//    it. Any chunked upload spread over several reads, or followed by pipelined bytes, is
//    corrupted ("hello world" arrives as "\r\norl\r\norld"). Fix: always copy
//    (`ctl.enqueue(step.data.length === 1 ? step.data[0]!.slice() : concat(...step.data))`).
Deno.test("regression: a chunked body spread over several reads reaches the handler intact", async () => {
  await using s = startServer(echo);
  await using p = await Peer.connect(s.port);
  await p.write("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
  await settle(30); // the pieces are to arrive in separate reads
  await p.write("6\r\n world\r\n");
  await settle(30);
  await p.write("0\r\n\r\n");
  assertEquals((await p.response()).text(), "hello world");
});

Deno.test("regression: a chunked body followed by a pipelined request reaches the handler intact", async () => {
  await using s = startServer(echo);
  await using p = await Peer.connect(s.port);
  await p.write(
    "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n" +
      "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
  );
  assertEquals((await p.response()).text(), "de");
});

// 3. server.ts:453-458: errors of the request body (an HttpError from the ChunkedDecoder: 413
//    over maxBodyBytes, 400 for a malformed chunk) reach the handler through the body stream;
//    when the handler lets them through (it usually does), the catch turns them into a 500 and
//    a "handler_error" event. A Content-Length body over the limit gets its 413
//    (server.ts:443), a chunked one a 500. (The same catch turns the HttpError(400/426) that
//    upgradeWebSocket documents into a 500 unless the handler maps it itself.) Fix: in that
//    catch, `if (e instanceof HttpError) throw e;` (run() answers it and closes), or answer
//    e.status.
Deno.test("regression: a chunked body over maxBodyBytes is answered 413, a bad chunk 400", async () => {
  await using s = startServer(echo, { limits: { maxBodyBytes: 10 } });
  for (const [body, status] of [["20\r\n", 413], ["zz\r\n", 400]] as const) {
    await using p = await Peer.connect(s.port);
    await p.write(`POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
    assertEquals((await p.response()).status, status, body);
  }
  assertEquals(s.count("handler_error"), 0);
  assertEquals(s.count("bad_request"), 2);
});

// 4. server.ts:411-418: the head's end is searched before its size is checked, and the read
//    buffer starts at 4096 bytes whatever maxHeadBytes is; with maxHeadBytes below 4096, a
//    head of up to 4096 bytes that arrives in one read is accepted. Fix: refuse when
//    `end > l.maxHeadBytes` (and read at most maxHeadBytes - len while in a head).
Deno.test("regression: maxHeadBytes under 4096 is enforced for a head that arrives at once", async () => {
  await using s = startServer(() => new Response("ok"), { limits: { maxHeadBytes: 1024 } });
  await using p = await Peer.connect(s.port);
  await p.write(`GET / HTTP/1.1\r\nHost: x\r\nX: ${"a".repeat(2000)}\r\n\r\n`);
  assertEquals((await p.response()).status, 431);
});

// 5. server.ts:528-531 (#respond): the response head is written with `keepAlive:
//    head.keepAlive` before the server knows whether it will keep the connection; when the
//    handler did not read the whole body (server.ts:463, body.done() false), or the server is
//    shutting down, the connection is closed after a response that did not say
//    "connection: close" (RFC 9110 9.6 / 9112 9.6: a client then reuses a dead connection).
//    Fix: pass `keepAlive: head.keepAlive && body.done() && !ctx.stopping` into #respond.
Deno.test("regression: a response after which the server closes says connection: close", async () => {
  await using s = startServer(() => new Response("no", { status: 401 }));
  await using p = await Peer.connect(s.port);
  await p.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n");
  let r = await p.response();
  while (r.status === 100) r = await p.response();
  await p.closed();
  assertEquals(r.get("connection"), "close");
});

// 6. server.ts:528: a HEAD response's Content-Length is taken from the handler's headers only;
//    a handler answering `new Response("hello")` (no explicit header, as Deno.serve handlers
//    do) makes the server send "content-length: 0", which RFC 9110 8.6 forbids (a HEAD's
//    Content-Length must equal the GET's). Fix: read the body (as for GET) when the handler
//    gave no Content-Length, or send no Content-Length at all.
Deno.test("regression: HEAD gets the Content-Length GET would have", async () => {
  await using s = startServer(() => new Response("hello"));
  await using p = await Peer.connect(s.port);
  await p.write("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
  const head = await p.until((b) => {
    const t = dec.decode(b);
    return t.includes("\r\n\r\n") && t;
  }, "the HEAD response");
  assertOk(!/content-length: 0\r\n/.test(head), head);
});

// 7. websocket.ts:71/146/173 and server.ts:595-602: a ServerWebSocket is open (readyState 1)
//    as soon as upgradeWebSocket returns, and send() flushes in a microtask; a handler that
//    greets the client before returning the response (a common pattern) has its frame written
//    before the "101 Switching Protocols" head, which the client cannot parse. Fix: hold the
//    queue until #startWebSocket has written the 101 (e.g. a "started" flag in the
//    transport's write, or readyState 0 until then, with send() queuing).
Deno.test("regression: a message sent from the handler goes out after the 101", async () => {
  await using s = startServer((req) => {
    const { socket, response } = upgradeWebSocket(req);
    socket.send(new TextEncoder().encode("welcome"));
    return response;
  });
  await using p = await rawWebSocket(s.port); // throws: "Not a status line: \x82\x07welcome..."
  assertEquals(dec.decode((await readFrame(p)).payload), "welcome");
});

// 8. server.ts:619-622: `paused` is checked only before the next read is started; the loop
//    is almost always already waiting in that read, so a pause set from outside onmessage
//    (a timer, a slow consumer elsewhere) lets the next message through; and frames that came
//    in the same read as the one whose onmessage paused are all delivered (the parser loops
//    over the whole chunk, websocket.ts:236-240). Fix: when paused, keep the unparsed bytes
//    (or the parsed messages) and hand them over on resume; ServerWebSocket.receive must stop
//    delivering once paused.
Deno.test("regression: a pause set outside onmessage holds the next message", async () => {
  const got: string[] = [];
  let socket!: ServerWebSocket;
  await using s = startServer((req) => {
    const u = upgradeWebSocket(req);
    socket = u.socket;
    socket.onmessage = (d) => got.push(dec.decode(d));
    return u.response;
  });
  await using p = await rawWebSocket(s.port);
  await p.write(frame(0x1, "a"));
  await waitFor(() => got.length === 1, "the first message");
  socket.paused = true;
  await p.write(frame(0x1, "b"));
  await settle(200);
  assertEquals(got, ["a"], "nothing delivered while paused");
});

Deno.test("regression: a pause set in onmessage holds the rest of the same read", async () => {
  const got: string[] = [];
  await using s = startServer((req) => {
    const { socket, response } = upgradeWebSocket(req);
    socket.onmessage = (d) => {
      got.push(dec.decode(d));
      socket.paused = true;
    };
    return response;
  });
  await using p = await rawWebSocket(s.port);
  const bytes = new Uint8Array([...frame(0x1, "a"), ...frame(0x1, "b"), ...frame(0x1, "c")]);
  await p.write(bytes);
  await waitFor(() => got.length >= 1, "the first message");
  await settle(200);
  assertEquals(got, ["a"]);
});

// 9. websocket.ts:241 and server.ts:384-393: an exception thrown by the application's
//    onmessage propagates out of the read loop (#startWebSocket); run() swallows it (it only
//    answers HttpErrors) and does not close the connection (this.#ws is set), so the socket is
//    no longer read at all: no event, pings unanswered, the peer hangs until the idle timeout
//    (forever with idleTimeoutSeconds: 0). Fix: catch around the onmessage call, emit
//    "handler_error" and close with 1011.
Deno.test("regression: an onmessage that throws is reported and closes the socket with 1011", async () => {
  await using s = startServer((req) => {
    const { socket, response } = upgradeWebSocket(req, { idleTimeoutSeconds: 0 });
    socket.onmessage = () => {
      throw new Error("application bug");
    };
    return response;
  });
  await using p = await rawWebSocket(s.port);
  await p.write(frame(0x1, "boom"));
  const f = await readFrame(p, 2000);
  assertEquals([f.opcode, (f.payload[0]! << 8) | f.payload[1]!], [0x8, 1011]);
  assertEquals(s.count("handler_error"), 1);
});

// 10. server.ts:315 (Connection.close → transportClosed → onclose): close() runs from the
//     server's interval timer (timeouts), from the accept loop (evictions) and from reads; an
//     onclose that throws escapes the timer callback and ends the process ("Uncaught Error"),
//     or rejects acceptLoop (the server stops accepting). Fix: guard the onclose call (and the
//     other application callbacks) with try/catch and report "handler_error".
Deno.test("regression: an onclose that throws does not end the process", async () => {
  const mod = new URL("../../../lib/net/mod.ts", import.meta.url).href;
  const code = `import { serve, upgradeWebSocket } from ${JSON.stringify(mod)};
const s = serve({ hostname: "127.0.0.1", port: 0, limits: { writeTimeoutMs: 200 },
  handler: (req) => { const { socket, response } = upgradeWebSocket(req, { idleTimeoutSeconds: 0.1 });
    socket.onclose = () => { throw new Error("application bug in onclose"); }; return response; } });
console.log("port " + s.addr.port);
setTimeout(() => { console.log("alive"); Deno.exit(0); }, 1500);`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", "--no-lock", code],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  let out = "";
  const pump = (async () => {
    for await (const t of child.stdout.pipeThrough(new TextDecoderStream())) out += t;
  })();
  const err = new Response(child.stderr).text();
  const port = Number((await waitFor(() => /port (\d+)/.exec(out), "the child's port"))[1]);
  await using _p = await rawWebSocket(port); // never answers the idle ping: the server closes it
  const status = await child.status;
  await pump;
  assertEquals([status.code, out.includes("alive")], [0, true], await err);
});
