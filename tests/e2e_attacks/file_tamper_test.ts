/**
 * A malicious relay flips a byte in envelopes that carry a file's chunks (in the body
 * ciphertext, and in the tag): each is refused by the session before anything of it is
 * written, the chunk comes again, and the file completes with the right SHA-256 and no
 * failure. The untampered originals still open with the keys B kept for them (the refusal was
 * the flip's doing). Chunks travel in envelopes of the largest padding class only, and no slice
 * of the file's bytes is on the relay's wire or in either state dir.
 *
 * @module
 */
import type { FileRecord } from "../../daemon/service.ts";
import { assertEquals, assertOk } from "../_assert.ts";
import { PAD_BUCKETS } from "../../protocol/constants.ts";
import { waitFor } from "../harness.ts";
import { onMsgs, type Peer, startWorld, tryOpen } from "./_world.ts";
import { sha256Hex, testBytes } from "../e2e/_files.ts";

/** True when `needle` occurs in `hay`. */
function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await filesUnder(p));
    else if (e.isFile) out.push(p);
  }
  return out;
}

Deno.test("relay flips a byte in a file's chunk envelopes: refused, sent again, the file completes intact", async () => {
  const w = await startWorld(2);
  try {
    const [a, b] = w.peers as [Peer, Peer];
    const big = PAD_BUCKETS[PAD_BUCKETS.length - 1]!;
    const originals: Uint8Array[] = [];
    let chunks = 0;
    w.hub.rule = onMsgs(a, b, (env, _i, hub) => {
      if (env.length < big) return undefined; // not a chunk
      chunks++;
      if (chunks !== 3 && chunks !== 9) return undefined;
      originals.push(env);
      const bad = env.slice();
      bad[chunks === 3 ? bad.length - 100 : bad.length - 1]! ^= 0x01; // body ciphertext; tag
      return hub.inject(b.key, a.key, bad);
    });
    const bytes = testBytes(30 * 45_056 + 7, 11);
    const f = await a.d.engine.sendFile({
      to: b.id,
      name: "t.bin",
      body: new Response(bytes).body!,
    }) as FileRecord; // to a peer: one file
    const stateAt = (p: Peer) => p.d.engine.files({}).find((x) => x.id === f.id)?.state;
    await waitFor(() => stateAt(b) === "complete", "B has the file", 30_000);
    await waitFor(() => stateAt(a) === "complete", "A is told", 30_000);
    assertEquals(originals.length, 2, "the relay tampered twice");
    const got = b.d.engine.fileContent(f.id);
    assertEquals(
      sha256Hex(new Uint8Array(await new Response(got.body).arrayBuffer())),
      sha256Hex(bytes),
    );
    const failed = b.events.filter((e) => e.type === "file" && e.data.phase === "failed");
    assertEquals(failed, [], "no failure: the tampered envelopes never reached the file");
    for (const [k, env] of originals.entries()) {
      assertEquals(await tryOpen(b, a, env), "opened", `original ${k + 1}: its key was kept`);
    }
    assertOk(chunks >= 31, `${chunks} chunk envelopes`);
    // The relay saw no plaintext, and neither state dir holds any (the chunks are sealed).
    const probes = [bytes.slice(1000, 1032), bytes.slice(500_000, 500_032)];
    for (const raw of w.wire) {
      for (const p of probes) assertOk(!contains(raw, p), "plaintext on the wire");
    }
    for (const peer of [a, b]) {
      for (const path of await filesUnder(peer.stateDir)) {
        const data = await Deno.readFile(path);
        for (const p of probes) assertOk(!contains(data, p), `plaintext of the file in ${path}`);
      }
    }
  } finally {
    await w.close();
  }
});
