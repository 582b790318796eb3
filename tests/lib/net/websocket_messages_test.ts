import { assertEquals, assertOk } from "../../_assert.ts";
import { waitFor } from "../../harness.ts";
import { WS_CLOSE } from "../../../lib/net/mod.ts";
import {
  closeOf,
  concat,
  enc,
  frame,
  Peer,
  rawWebSocket,
  readFrame,
  upgradeHead,
} from "./_helpers.ts";
import { client, dec, wsServer } from "./_ws_helpers.ts";

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

Deno.test("websocket: sendParts sends its parts as one message, in order", async () => {
  const parts = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(70_000).fill(9)];
  await using s = wsServer((socket) => {
    socket.onmessage = () => {
      socket.sendParts(parts);
      socket.sendParts([]);
      socket.send(new Uint8Array([4]));
    };
  });
  await using c = await client(s.port);
  c.ws.send("go");
  await waitFor(() => c.messages.length === 3, "three messages");
  assertEquals(c.messages[0]!.data, concat(...parts));
  assertEquals(c.messages[1]!.data.length, 0);
  assertEquals(c.messages[2]!.data, new Uint8Array([4]));
  assertOk(c.messages.every((m) => m.binary));
});
