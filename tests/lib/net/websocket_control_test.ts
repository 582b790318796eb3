import { assertEquals, assertOk } from "../../_assert.ts";
import { waitFor } from "../../harness.ts";
import type { ServerWebSocket } from "../../../lib/net/mod.ts";
import {
  closeBody,
  closeOf,
  concat,
  enc,
  frame,
  rawWebSocket,
  readFrame,
  settle,
} from "./_helpers.ts";
import { client, dec, echo, wsServer } from "./_ws_helpers.ts";

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
