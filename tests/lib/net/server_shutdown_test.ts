import { assertEquals, assertOk, assertRejects } from "../../_assert.ts";
import { waitFor } from "../../harness.ts";
import { Peer, settle, startServer } from "./_helpers.ts";
import { gate, ok } from "./_server_helpers.ts";

// --- shutdown ---------------------------------------------------------------------------------

Deno.test("server: shutdown() closes idle connections, lets a busy one finish", async () => {
  using g = gate();
  let started = false;
  await using s = startServer(async (req) => {
    if (new URL(req.url).pathname === "/slow") {
      started = true;
      await g.wait;
    }
    return ok();
  });
  await using idle = await Peer.connect(s.port);
  await using kept = await Peer.connect(s.port);
  await kept.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  await kept.response(); // idle again, in keep-alive
  await using busy = await Peer.connect(s.port);
  await busy.write("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
  await waitFor(() => started && s.server.connections === 3, "the slow request");
  let finished = false;
  void s.server.finished.then(() => (finished = true));
  const down = s.server.shutdown(5000);
  await idle.closed("the idle connection to close");
  await kept.closed("the keep-alive connection to close");
  assertOk(!finished && !busy.eof, "the busy one is waited for");
  // New connections are not accepted any more.
  await assertRejects(() => Deno.connect({ hostname: "127.0.0.1", port: s.port }));
  g.open();
  const r = await busy.response();
  assertEquals(r.status, 200);
  await busy.closed("the busy connection to close after its response");
  await down;
  assertOk(finished);
  assertEquals(s.server.connections, 0);
});

Deno.test("server: shutdown(grace) drops what is still busy after the grace", async () => {
  using g = gate();
  let started = false;
  await using s = startServer(async () => {
    started = true;
    await g.wait;
    return ok();
  });
  await using busy = await Peer.connect(s.port);
  await busy.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  await waitFor(() => started, "the request");
  const t0 = Date.now();
  await s.server.shutdown(150);
  const took = Date.now() - t0;
  assertOk(took >= 100 && took < 2000, `shut down in ${took} ms`);
  await busy.closed();
  assertEquals(busy.text(), "", "no response");
  await s.server.shutdown(); // again: at once
});

// --- accept errors ----------------------------------------------------------------------------

Deno.test("server: running out of descriptors (EMFILE) does not end the server", async () => {
  // A child process with a descriptor limit of 40 and an fdBudget far above it, so that
  // accept() itself fails; the parent fills its descriptors, then frees them.
  const mod = new URL("../../../lib/net/mod.ts", import.meta.url).href;
  const code = `import { serve } from ${JSON.stringify(mod)};
const s = serve({ hostname: "127.0.0.1", port: 0, fdBudget: 10000, handler: () => new Response("ok"),
  onEvent: (e) => { if (e.kind === "accept_error") console.log("accept_error " + e.error); } });
console.log("port " + s.addr.port);`;
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      'ulimit -n 40 && exec "$0" eval --no-config --no-lock "$1"',
      Deno.execPath(),
      code,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
  }).spawn();
  let out = "";
  const pump = (async () => {
    for await (const t of child.stdout.pipeThrough(new TextDecoderStream())) out += t;
  })();
  const errText = new Response(child.stderr).text();
  const conns: Deno.Conn[] = [];
  try {
    const port = Number((await waitFor(() => /port (\d+)/.exec(out), "the child's port"))[1]);
    // Bounded: at most 100 connections (the child can hold fewer than 40).
    for (let i = 0; i < 100 && !out.includes("accept_error"); i++) {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      if (i % 10 === 9) await settle(5); // let the child run its accept loop
    }
    await waitFor(() => out.includes("accept_error"), "an accept error", 5000);
    assertOk(/Too many open files|os error 24/.test(out), out);
    for (const c of conns.splice(0)) c.close();
    // Served again once descriptors are free.
    const r = await waitFor(
      async () => {
        await using p = await Peer.connect(port);
        await p.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        return await p.response(2000).then(
          (r) => (r.status === 200 ? r : undefined),
          () => undefined,
        );
      },
      "a response after the descriptors came back",
      5000,
    );
    assertEquals(r.text(), "ok");
  } finally {
    for (const c of conns) c.close();
    child.kill();
    await child.status;
    await pump;
    const err = await errText;
    assertOk(!/error: Uncaught/.test(err), err);
  }
});
