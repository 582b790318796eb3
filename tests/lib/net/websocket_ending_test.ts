import { assertEquals, assertOk } from "../../_assert.ts";
import { waitFor } from "../../harness.ts";
import { frame, rawWebSocket, readFrame } from "./_helpers.ts";
import { client, dec, echo, wsServer } from "./_ws_helpers.ts";

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
