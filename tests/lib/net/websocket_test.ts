import WebSocket from "ws";
import { assertEquals, assertOk, assertThrows } from "../../_assert.ts";
import { waitFor } from "../../harness.ts";
import {
  HttpError,
  type ServerWebSocket,
  upgradeWebSocket,
  WS_CLOSE,
  type WsCloseCause,
  type WsOptions,
} from "../../../lib/net/mod.ts";
import type { ServeOptions } from "../../../lib/net/server.ts";
import { acceptKey, checkUpgrade } from "../../../lib/net/_upgrade.ts";
import {
  closeBody,
  closeOf,
  concat,
  enc,
  frame,
  Peer,
  rawWebSocket,
  readFrame,
  settle,
  startServer,
  type TestServer,
  upgradeHead,
  WS_ACCEPT,
  WS_KEY,
} from "./_helpers.ts";

const dec = new TextDecoder();

interface Closed {
  code: number;
  reason: string;
  cause: WsCloseCause;
}

/** A server whose every request is upgraded; its sockets and their closes are recorded. */
function wsServer(
  setup: (socket: ServerWebSocket, req: Request) => void,
  o: WsOptions = {},
  serve: Partial<Omit<ServeOptions, "handler">> = {},
): TestServer & { sockets: ServerWebSocket[]; closes: Closed[] } {
  const sockets: ServerWebSocket[] = [];
  const closes: Closed[] = [];
  const s = startServer((req) => {
    const { socket, response } = upgradeWebSocket(req, o);
    sockets.push(socket);
    socket.onclose = (code, reason, cause) => closes.push({ code, reason, cause });
    setup(socket, req);
    return response;
  }, { ...serve, limits: { writeTimeoutMs: 400, ...serve.limits } }); // a 100 ms tick
  return Object.assign(s, { sockets, closes });
}

const echo = (socket: ServerWebSocket) => {
  socket.onmessage = (data) => socket.send(data);
};

/** An npm `ws` client that records what it gets. */
interface Client {
  ws: WebSocket;
  messages: { data: Uint8Array; binary: boolean }[];
  pings: number;
  closed: { code: number; reason: string } | undefined;
}

async function client(port: number, o: { from?: string } = {}): Promise<Client & AsyncDisposable> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, {
    perMessageDeflate: false,
    localAddress: o.from,
  });
  ws.binaryType = "nodebuffer";
  const c: Client & AsyncDisposable = {
    ws,
    messages: [],
    pings: 0,
    closed: undefined,
    async [Symbol.asyncDispose]() {
      if (!c.closed) ws.terminate();
      await waitFor(() => c.closed, "the client to be closed", 3000);
    },
  };
  ws.on(
    "message",
    (d: Uint8Array, binary: boolean) => c.messages.push({ data: new Uint8Array(d), binary }),
  );
  ws.on("ping", () => c.pings++);
  ws.on(
    "close",
    (code: number, reason: Uint8Array) => (c.closed = { code, reason: dec.decode(reason) }),
  );
  ws.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  return c;
}

// --- the opening handshake (_upgrade.ts) ------------------------------------------------------

Deno.test("websocket: acceptKey is RFC 6455's known answer", () => {
  assertEquals(acceptKey(WS_KEY), WS_ACCEPT);
  assertEquals(acceptKey("x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
});

Deno.test("websocket: checkUpgrade table", () => {
  const good = {
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": WS_KEY,
    "sec-websocket-version": "13",
  };
  const req = (h: Record<string, string | undefined>, method = "GET") => {
    const headers = new Headers();
    for (const [k, v] of Object.entries({ ...good, ...h })) if (v !== undefined) headers.set(k, v);
    return new Request("http://x/", { method, headers });
  };
  assertEquals(checkUpgrade(req({})), WS_KEY);
  assertEquals(
    checkUpgrade(req({ upgrade: "WebSocket", connection: "keep-alive, Upgrade" })),
    WS_KEY,
  );
  assertEquals(checkUpgrade(req({ upgrade: "h2c, websocket", connection: "UPGRADE" })), WS_KEY);
  const bad: [Request, number, string][] = [
    [req({}, "POST"), 400, "POST"],
    [req({ upgrade: undefined }), 400, "no Upgrade"],
    [req({ upgrade: "h2c" }), 400, "another protocol"],
    [req({ upgrade: "websocketx" }), 400, "not the token"],
    [req({ connection: undefined }), 400, "no Connection"],
    [req({ connection: "keep-alive" }), 400, "Connection without upgrade"],
    [req({ "sec-websocket-version": undefined }), 426, "no version"],
    [req({ "sec-websocket-version": "8" }), 426, "version 8"],
    [req({ "sec-websocket-version": "13, 8" }), 426, "a version list"],
    [req({ "sec-websocket-key": undefined }), 400, "no key"],
    [req({ "sec-websocket-key": "short==" }), 400, "a short key"],
    [req({ "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ" }), 400, "no padding"],
    [req({ "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ=" }), 400, "one padding char"],
    [req({ "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZ!==" }), 400, "not base64"],
    [req({ "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZSBhYmM=" }), 400, "20 bytes"],
  ];
  for (const [r, status, why] of bad) {
    const e = assertThrows(() => checkUpgrade(r), (e) => e instanceof HttpError, why);
    assertEquals((e as HttpError).status, status, why);
  }
});

Deno.test("websocket: the 101 response, and refused upgrades over the wire", async () => {
  await using s = startServer((req) => {
    try {
      const { socket, response } = upgradeWebSocket(req);
      socket.onmessage = (d) => socket.send(d);
      return response;
    } catch (e) {
      if (e instanceof HttpError) return new Response(e.message, { status: e.status });
      throw e;
    }
  });
  await using p = await Peer.connect(s.port);
  await p.write(upgradeHead());
  const r = await p.response();
  assertEquals(r.head.split("\r\n")[0], "HTTP/1.1 101 Switching Protocols");
  assertEquals(
    [r.get("upgrade"), r.get("connection"), r.get("sec-websocket-accept"), r.get("content-length")],
    ["websocket", "Upgrade", WS_ACCEPT, undefined],
  );
  await p.write(frame(0x2, "hi"));
  assertEquals(dec.decode((await readFrame(p)).payload), "hi");
  for (const [extra, status] of [["", 400], ["Sec-WebSocket-Version: 8\r\n", 426]] as const) {
    await using q = await Peer.connect(s.port);
    const head = extra
      ? upgradeHead().replace("Sec-WebSocket-Version: 13\r\n", extra)
      : upgradeHead().replace(/Sec-WebSocket-Key: .*\r\n/, "");
    await q.write(head);
    assertEquals((await q.response()).status, status);
  }
});

// --- messages ---------------------------------------------------------------------------------

Deno.test("websocket: echo with an npm ws client (text and binary, in order)", async () => {
  const got: [string, boolean][] = [];
  await using s = wsServer((socket) => {
    socket.onmessage = (data, binary) => {
      got.push([binary ? `bin:${data.length}` : dec.decode(data), binary]);
      socket.send(data);
    };
  }, { maxMessage: 200_000 });
  await using c = await client(s.port);
  const big = new Uint8Array(100_000).map((_, i) => i & 0xff);
  c.ws.send("hello");
  c.ws.send(big);
  c.ws.send("");
  c.ws.send("✓ utf-8");
  await waitFor(() => c.messages.length === 4, "four echoes");
  assertEquals(got, [["hello", false], ["bin:100000", true], ["", false], ["✓ utf-8", false]]);
  assertEquals(dec.decode(c.messages[0]!.data), "hello");
  assertEquals(c.messages[1]!.data, big);
  assertEquals(
    c.messages.map((m) => m.binary),
    [true, true, true, true],
    "the server sends binary",
  );
  assertEquals(s.sockets[0]!.readyState, 1);
  c.ws.close(1000);
  await waitFor(() => s.closes.length === 1, "the close");
  assertEquals(s.closes, [{ code: 1000, reason: "", cause: "closed" }]);
});

Deno.test("websocket: frames sent with the upgrade request are not lost", async () => {
  const got: string[] = [];
  await using s = wsServer((socket) => (socket.onmessage = (d) => got.push(dec.decode(d))));
  await using p = await Peer.connect(s.port);
  await p.write(concat(enc.encode(upgradeHead()), frame(0x1, "early"), frame(0x1, "bird")));
  assertEquals((await p.response()).status, 101);
  await waitFor(() => got.length === 2, "the early messages");
  assertEquals(got, ["early", "bird"]);
});

Deno.test("websocket: a frame over maxMessage closes with tooBig at its header; memory stays flat", async () => {
  await using s = wsServer(() => {}, {
    maxMessage: 1024,
    tooBig: { code: 4009, reason: "too big" },
  });
  await using p = await rawWebSocket(s.port);
  const before = Deno.memoryUsage().rss;
  // Only the header of a 100 MB frame: the payload never comes.
  await p.write(frame(0x2, new Uint8Array(0), { length: 100 * 1024 * 1024 }));
  const f = await readFrame(p);
  assertEquals(closeOf(f), { code: 4009, reason: "too big" });
  await p.closed("the server to drop the connection");
  await waitFor(() => s.closes.length === 1, "onclose");
  assertEquals(s.closes, [{ code: 4009, reason: "too big", cause: "too_big" }]);
  const grew = Deno.memoryUsage().rss - before;
  assertOk(grew < 50 * 1024 * 1024, `rss grew by ${grew} bytes`);
  assertEquals(s.sockets[0]!.receiving, 0);
  // The same through the npm client, with the default code.
  await using d = wsServer(() => {}, { maxMessage: 1000 });
  await using c = await client(d.port);
  c.ws.send(new Uint8Array(1001));
  await waitFor(() => c.closed, "the client to see the close");
  assertEquals(c.closed, { code: WS_CLOSE.tooBig, reason: "message too big" });
  await waitFor(() => d.closes.length === 1, "onclose");
  assertEquals(d.closes[0]!.cause, "too_big");
});

Deno.test("websocket: changing maxMessage between messages takes effect", async () => {
  await using s = wsServer((socket) => {
    socket.onmessage = (data) => {
      socket.send(data);
      if (data.length === 16) socket.maxMessage = 1000; // e.g. after a login
      else if (data.length === 1000) socket.maxMessage = 10;
    };
  }, { maxMessage: 16 });
  await using c = await client(s.port);
  assertEquals(s.sockets[0]!.maxMessage, 16);
  c.ws.send(new Uint8Array(16));
  await waitFor(() => c.messages.length === 1, "the 16-byte echo");
  c.ws.send(new Uint8Array(1000));
  await waitFor(() => c.messages.length === 2, "the 1000-byte echo");
  assertEquals(s.sockets[0]!.maxMessage, 10);
  c.ws.send(new Uint8Array(11));
  await waitFor(() => c.closed, "the close for 11 bytes");
  assertEquals(c.closed!.code, 1009);
  assertEquals(c.messages.length, 2);
});

Deno.test("websocket: fragments are reassembled, with control frames between them", async () => {
  const got: [string, boolean][] = [];
  await using s = wsServer((socket) => (socket.onmessage = (d, b) => got.push([dec.decode(d), b])));
  await using p = await rawWebSocket(s.port);
  await p.write(concat(
    frame(0x1, "Hel", { fin: false }),
    frame(0x9, "mid"),
    frame(0x0, "", { fin: false }),
    frame(0x0, "lo"),
    frame(0x2, "a", { fin: false }),
    frame(0x0, "b"),
  ));
  const pong = await readFrame(p);
  assertEquals([pong.opcode, dec.decode(pong.payload)], [0xa, "mid"]);
  await waitFor(() => got.length === 2, "two messages");
  assertEquals(got, [["Hello", false], ["ab", true]]);
});

Deno.test("websocket: the limit counts all fragments of a message", async () => {
  const got: number[] = [];
  await using s = wsServer((socket) => (socket.onmessage = (d) => got.push(d.length)), {
    maxMessage: 10,
  });
  await using p = await rawWebSocket(s.port);
  await p.write(
    concat(frame(0x2, new Uint8Array(5), { fin: false }), frame(0x0, new Uint8Array(5))),
  );
  await waitFor(() => got.length === 1, "a 10-byte message in two fragments");
  await p.write(frame(0x2, new Uint8Array(6), { fin: false }));
  await p.write(frame(0x0, new Uint8Array(5), { fin: false }));
  assertEquals(closeOf(await readFrame(p)).code, 1009);
  await p.closed();
  assertEquals(got, [10]);
  await waitFor(() => s.closes.length === 1, "onclose");
  assertEquals(s.closes[0]!.cause, "too_big");
});

// --- control frames, timeouts -----------------------------------------------------------------

Deno.test("websocket: a ping is answered by a pong with its payload", async () => {
  await using s = wsServer(() => {});
  await using p = await rawWebSocket(s.port);
  for (const payload of ["", "x", "y".repeat(125)]) {
    await p.write(frame(0x9, payload));
    const f = await readFrame(p);
    assertEquals([f.fin, f.opcode, dec.decode(f.payload)], [true, 0xa, payload]);
  }
  await p.write(frame(0xa, "unsolicited pong")); // ignored
  await p.write(frame(0x9, "again"));
  assertEquals(dec.decode((await readFrame(p)).payload), "again");
});

Deno.test("websocket: a peer that never answers the idle ping is closed (cause idle)", async () => {
  await using s = wsServer(() => {}, { idleTimeoutSeconds: 0.3 });
  await using p = await rawWebSocket(s.port);
  const t0 = Date.now();
  const ping = await readFrame(p, 3000);
  assertEquals([ping.opcode, ping.payload.length], [0x9, 0]);
  const pingAt = Date.now() - t0;
  assertOk(pingAt >= 250, `pinged after ${pingAt} ms of silence`);
  await p.closed("the idle timeout", 3000);
  const closedAt = Date.now() - t0;
  assertOk(closedAt >= pingAt + 250 && closedAt < 3000, `closed after ${closedAt} ms`);
  await waitFor(() => s.closes.length === 1, "onclose");
  assertEquals(s.closes, [{ code: 1006, reason: "", cause: "idle" }]);
});

Deno.test("websocket: a peer that answers pings stays open past several idle timeouts", async () => {
  await using s = wsServer(() => {}, { idleTimeoutSeconds: 0.1 });
  await using c = await client(s.port); // ws answers pings by itself
  await waitFor(() => c.pings >= 3, "three idle pings", 5000);
  assertEquals([c.closed, s.closes.length, s.sockets[0]!.readyState], [undefined, 0, 1]);
});

Deno.test("websocket: close handshake started by the client reaches onclose", async () => {
  await using s = wsServer(echo);
  await using c = await client(s.port);
  c.ws.close(4001, "bye now");
  await waitFor(() => c.closed, "the client's close event");
  assertEquals(c.closed, { code: 4001, reason: "bye now" }, "the server echoed the code");
  await waitFor(() => s.closes.length === 1, "onclose");
  assertEquals(s.closes, [{ code: 4001, reason: "bye now", cause: "closed" }]);
  assertEquals(s.sockets[0]!.readyState, 3);
});

Deno.test("websocket: close handshake started by the server reaches onclose", async () => {
  await using s = wsServer((socket) => {
    socket.onmessage = (d) => {
      socket.send(d);
      socket.close(4002, "done");
      socket.send(enc.encode("ignored after close"));
    };
  });
  await using c = await client(s.port);
  c.ws.send("last");
  await waitFor(() => c.closed, "the client's close event");
  assertEquals(c.closed, { code: 4002, reason: "done" });
  assertEquals(c.messages.map((m) => dec.decode(m.data)), ["last"], "queued data went out first");
  await waitFor(() => s.closes.length === 1, "onclose");
  assertEquals(s.closes, [{ code: 4002, reason: "done", cause: "closed" }]);
});

Deno.test("websocket: raw close frames: empty payload, a reason, frames after the close", async () => {
  const got: string[] = [];
  await using s = wsServer((socket) => (socket.onmessage = (d) => got.push(dec.decode(d))));
  {
    await using p = await rawWebSocket(s.port);
    await p.write(concat(frame(0x8, ""), frame(0x1, "after the close")));
    const f = await readFrame(p);
    assertEquals([f.opcode, f.payload.length], [0x8, 0], "an empty close is echoed empty");
    await p.closed();
  }
  {
    await using p = await rawWebSocket(s.port);
    await p.write(frame(0x8, closeBody(3001, "é reason")));
    assertEquals(closeOf(await readFrame(p)), { code: 3001, reason: "é reason" });
    await p.closed();
  }
  await waitFor(() => s.closes.length === 2, "two closes");
  assertEquals(s.closes, [
    { code: 1005, reason: "", cause: "closed" },
    { code: 3001, reason: "é reason", cause: "closed" },
  ]);
  assertEquals(got, [], "nothing after a close frame is delivered");
});

Deno.test("websocket: protocol errors close with 1002 (or 1007) and the reason", async () => {
  const cases: [Uint8Array, number, RegExp][] = [
    [frame(0x2, "x", { masked: false }), 1002, /Unmasked/],
    [frame(0x2, "x", { rsv: 4 }), 1002, /RSV/],
    [frame(0x3, "x"), 1002, /Opcode 3/],
    [frame(0x0, "x"), 1002, /Continuation/],
    [frame(0x9, "x", { fin: false }), 1002, /control/],
    [frame(0x8, closeBody(1005)), 1002, /Close code 1005/],
    [frame(0x8, new Uint8Array([3])), 1002, /1 byte/],
    [frame(0x8, concat(closeBody(1000), new Uint8Array([0xff]))), 1007, /UTF-8/],
  ];
  await using s = wsServer(() => {});
  for (const [bytes, code, reason] of cases) {
    await using p = await rawWebSocket(s.port);
    await p.write(bytes);
    const c = closeOf(await readFrame(p));
    assertEquals(c.code, code, `${reason}`);
    assertOk(reason.test(c.reason), c.reason);
    await p.closed();
  }
  await waitFor(() => s.closes.length === cases.length, "every onclose");
  assertEquals(s.closes.map((c) => [c.code, c.cause]), cases.map(([, code]) => [code, "protocol"]));
});

Deno.test("websocket: a client that stops reading is closed with cause write_timeout", async () => {
  const chunk = new Uint8Array(1024 * 1024);
  let opened = false;
  await using s = wsServer(
    (socket) => {
      socket.onmessage = () => {
        opened = true;
        // 24 MiB: more than loopback's socket buffers hold for a peer that does not read.
        for (let i = 0; i < 24; i++) socket.send(chunk);
      };
    },
    {},
    { limits: { writeTimeoutMs: 200 } },
  );
  await using p = await rawWebSocket(s.port);
  p.stopReading();
  await p.write(frame(0x2, "go"));
  await waitFor(() => opened, "the sends");
  assertOk(s.sockets[0]!.bufferedAmount > 0);
  await waitFor(() => s.closes.length === 1, "the write timeout", 5000);
  assertEquals(s.closes, [{ code: 1006, reason: "", cause: "write_timeout" }]);
  assertEquals([s.sockets[0]!.readyState, s.sockets[0]!.bufferedAmount], [3, 0]);
  assertOk(Date.now() - s.sockets[0]!.lastProgress >= 200, "no progress since");
});

Deno.test("websocket: pause stops onmessage, resume restarts it", async () => {
  const got: string[] = [];
  let socket!: ServerWebSocket;
  await using s = wsServer((ws) => {
    socket = ws;
    ws.onmessage = (d) => {
      const m = dec.decode(d);
      got.push(m);
      if (m === "pause") {
        ws.paused = true;
        ws.send(enc.encode("paused"));
      }
    };
  }, { idleTimeoutSeconds: 0.1 });
  await using p = await rawWebSocket(s.port);
  await p.write(frame(0x1, "pause"));
  assertEquals(dec.decode((await readFrame(p)).payload), "paused");
  assertOk(socket.paused);
  await p.write(frame(0x1, "while paused"));
  await p.write(frame(0x9, "ping while paused"));
  // A negative check needs a window: nothing is read while paused (and no idle ping is sent,
  // though the idle timeout passes, since the silence is ours).
  await settle(300);
  assertEquals(got, ["pause"]);
  assertEquals(p.buffered.length, 0, "no pong, no idle ping while paused");
  socket.paused = false;
  await waitFor(() => got.length === 2, "the message held in the kernel");
  assertEquals(got, ["pause", "while paused"]);
  let pong = await readFrame(p);
  for (let i = 0; i < 3 && pong.opcode === 0x9; i++) pong = await readFrame(p); // idle pings
  assertEquals([pong.opcode, dec.decode(pong.payload)], [0xa, "ping while paused"]);
  assertEquals(s.closes, []);
});

// --- ending -----------------------------------------------------------------------------------

Deno.test("websocket: terminate() and a vanished peer", async () => {
  await using s = wsServer((socket) => {
    socket.onmessage = (d) => {
      if (dec.decode(d) === "kill") socket.terminate();
    };
  });
  await using c = await client(s.port);
  c.ws.send("kill");
  await waitFor(() => c.closed, "the client to see the drop");
  assertEquals(c.closed!.code, 1006);
  await using p = await rawWebSocket(s.port);
  p.close();
  await waitFor(() => s.closes.length === 2, "both closes");
  assertEquals(s.closes, [
    { code: 1006, reason: "", cause: "terminated" },
    { code: 1006, reason: "", cause: "eof" },
  ]);
});

Deno.test("websocket: a trusted socket is not evicted at the cap; an untrusted one is", async () => {
  await using s = wsServer(
    (socket, req) => {
      if (new URL(req.url).searchParams.has("login")) socket.trust();
      echo(socket);
    },
    {},
    { limits: { maxConnections: 2 } },
  );
  await using trusted = await rawWebSocket(s.port, { path: "/?login" });
  await using plain = await rawWebSocket(s.port);
  await waitFor(() => s.server.connections === 2, "two sockets");
  await using newcomer = await rawWebSocket(s.port);
  await plain.closed("the untrusted socket to be evicted");
  await waitFor(() => s.closes.length === 1, "its onclose");
  assertEquals(s.closes[0]!.cause, "evicted");
  await trusted.write(frame(0x2, "still here"));
  assertEquals(dec.decode((await readFrame(trusted)).payload), "still here");
  await newcomer.write(frame(0x2, "me too"));
  assertEquals(dec.decode((await readFrame(newcomer)).payload), "me too");
});

Deno.test("websocket: shutdown() waits the grace for open sockets, then drops them", async () => {
  await using s = wsServer(() => {});
  await using p = await rawWebSocket(s.port);
  await waitFor(() => s.sockets.length === 1, "the socket");
  const t0 = Date.now();
  await s.server.shutdown(150);
  assertOk(Date.now() - t0 >= 100, "waited the grace");
  await p.closed();
  assertEquals(s.closes, [{ code: 1006, reason: "", cause: "eof" }]);
});
