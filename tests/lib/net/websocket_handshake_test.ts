import { assertEquals, assertThrows } from "../../_assert.ts";
import { HttpError, upgradeWebSocket } from "../../../lib/net/mod.ts";
import { acceptKey, checkUpgrade } from "../../../lib/net/_upgrade.ts";
import { frame, Peer, readFrame, startServer, upgradeHead, WS_ACCEPT, WS_KEY } from "./_helpers.ts";
import { dec } from "./_ws_helpers.ts";

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
