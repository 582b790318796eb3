import { assertEquals, assertOk } from "../_assert.ts";
import { connectClient, startRelayProcess, waitFor } from "../harness.ts";
import { concat, toBase64Url, toHex, utf8 } from "../../protocol/bytes.ts";

/** All byte strings of every file under `dir` (state dir incl. WAL and journal files). */
async function filesUnder(dir: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await filesUnder(p));
    else if (e.isFile) out.push(await Deno.readFile(p));
  }
  return out;
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

Deno.test("no storage: the relay's state dir and log never hold the plaintext or envelope bytes", async () => {
  const relay = await startRelayProcess();
  const marker = crypto.getRandomValues(new Uint8Array(24));
  const plaintext = utf8.encode(`secret plaintext ${toHex(marker)}`);
  let got = 0;
  const a = await connectClient(relay.address);
  const b = await connectClient(relay.address, { onDeliver: () => got++ });
  try {
    for (let i = 0; i < 200; i++) {
      // The envelope here is the plaintext itself: the strictest case for the relay.
      const r = await a.send(b.id, concat(plaintext, Uint8Array.of(i)));
      assertEquals(r.status, "delivered");
    }
    await waitFor(() => got === 200, "200 deliveries");
  } finally {
    await a.close();
    await b.close();
    assertEquals(await relay.stop(), 0);
  }
  const files = await filesUnder(relay.stateDir);
  assertOk(files.length >= 2, "the key and the registry exist");
  const log = utf8.encode(relay.log.join("\n"));
  const needles = [marker, plaintext, utf8.encode(toHex(marker)), utf8.encode(toBase64Url(marker))];
  for (const hay of [...files, log]) {
    for (const n of needles) assertOk(!contains(hay, n), "the marker must not be stored or logged");
  }
  // The log holds lifecycle events only: no ids, no client IPs (the relay's own metrics
  // listener address, in relay_listening, is not a client's).
  const lines = relay.log.map((l) => {
    const o = JSON.parse(l);
    if (o.event === "relay_listening") delete o.metrics;
    return JSON.stringify(o);
  });
  assertOk(!lines.some((l) => /127\.0\.0\.1|[0-9a-f]{8}-[0-9a-f]{4}-8/.test(l)), "no ids or IPs");
});
