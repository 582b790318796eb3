import { assertEquals } from "../_assert.ts";
import { fromHex, toHex } from "../../protocol/bytes.ts";
import { dhFromSecret } from "../../protocol/_crypto.ts";
import { type CipherState, HandshakeState, type PatternName } from "../../protocol/noise.ts";

interface Vector {
  protocol_name: string;
  init_prologue: string;
  resp_prologue: string;
  init_static?: string;
  resp_static?: string;
  init_ephemeral: string;
  resp_ephemeral: string;
  handshake_hash?: string;
  messages: { payload: string; ciphertext: string }[];
}

const file = new URL("../vectors/noise_25519_sha256.json", import.meta.url);
const { vectors } = JSON.parse(await Deno.readTextFile(file)) as { vectors: Vector[] };

for (const [i, v] of vectors.entries()) {
  Deno.test(`noise vector ${i}: ${v.protocol_name} reproduces every message`, async () => {
    const pattern = v.protocol_name.split("_")[1] as PatternName;
    const iS = await dhFromSecret(fromHex(v.init_static!));
    const rS = await dhFromSecret(fromHex(v.resp_static!));
    const init = new HandshakeState({
      pattern,
      initiator: true,
      prologue: fromHex(v.init_prologue),
      s: iS,
      e: await dhFromSecret(fromHex(v.init_ephemeral)),
      rs: pattern === "XK" ? rS.publicKey : undefined,
    });
    const resp = new HandshakeState({
      pattern,
      initiator: false,
      prologue: fromHex(v.resp_prologue),
      s: rS,
      e: await dhFromSecret(fromHex(v.resp_ephemeral)),
    });
    const hsCount = 3;
    let iSplit: [CipherState, CipherState] | undefined;
    let rSplit: [CipherState, CipherState] | undefined;
    for (const [k, m] of v.messages.entries()) {
      const payload = fromHex(m.payload);
      if (k < hsCount) {
        const [w, r] = k % 2 === 0 ? [init, resp] : [resp, init];
        const c = await w.writeMessage(payload);
        assertEquals(toHex(c), m.ciphertext, `handshake message ${k}`);
        assertEquals(toHex((await r.readMessage(c)).payload), m.payload);
        if (k === hsCount - 1) {
          assertEquals(toHex(init.handshakeHash), toHex(resp.handshakeHash));
          if (v.handshake_hash) assertEquals(toHex(init.handshakeHash), v.handshake_hash);
          iSplit = await init.split();
          rSplit = await resp.split();
        }
      } else {
        const t = k - hsCount;
        const [enc, dec] = t % 2 === 0 ? [iSplit![0], rSplit![0]] : [rSplit![1], iSplit![1]];
        const c = await enc.encryptWithAd(new Uint8Array(), payload);
        assertEquals(toHex(c), m.ciphertext, `transport message ${t}`);
        assertEquals(toHex(await dec.decryptWithAd(new Uint8Array(), c)), m.payload);
      }
    }
  });
}
