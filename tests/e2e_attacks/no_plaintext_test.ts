/**
 * The relay never sees plaintext nor exact lengths: every envelope it routes, and every raw
 * WebSocket message it receives, is searched for a random marker the users wrote (as UTF-8,
 * raw bytes, hex, base64, base64url) and for the inner payload's JSON; MSG envelopes come only
 * in the padded size classes, whatever the text length.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { concat, toBase64Url, toHex, utf8 } from "../../protocol/bytes.ts";
import { ENVELOPE_HEADER_LEN, PAD_BUCKETS, TAG_LEN } from "../../protocol/constants.ts";
import {
  HS1,
  HS2,
  HS3,
  MSG,
  type Peer,
  received,
  sendAll,
  startWorld,
  waitDelivered,
} from "./_world.ts";

/** True if `needle` occurs in `hay`. */
function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));

/** Every form of the marker a careless relay could carry. */
function forms(raw: Uint8Array, text: string): Uint8Array[] {
  return [
    raw,
    utf8.encode(text),
    utf8.encode(toHex(raw)),
    utf8.encode(toHex(raw).toUpperCase()),
    utf8.encode(b64(raw)),
    utf8.encode(toBase64Url(raw)),
    utf8.encode(b64(utf8.encode(text))),
    utf8.encode(toBase64Url(utf8.encode(text))),
    utf8.encode('{"t":"m"'), // the inner payload's structure
    utf8.encode('{"t":"a"'),
  ];
}

Deno.test("the relay sees neither plaintext nor exact lengths", async () => {
  const w = await startWorld(2);
  try {
    const [a, b] = w.peers as [Peer, Peer];
    const raw = crypto.getRandomValues(new Uint8Array(16));
    const marker = `MARK-${toHex(raw)}`;
    const pads = [0, 1, 150, 900, 3000, 12_000, 30_000]; // every size class, some twice
    const texts = pads.map((n) => `${marker}${"x".repeat(n)}`);
    await waitDelivered(a, await sendAll(a, b, texts));
    await waitDelivered(b, await sendAll(b, a, [`re: ${marker}`, `${raw.join(",")}`]));
    assertEquals(received(b, a), texts, "the marker really went through");
    assertEquals(received(a, b), [`re: ${marker}`, `${raw.join(",")}`]);

    const needles = forms(raw, marker);
    // Positive control: the search finds each form when it is there.
    for (const n of needles) assertOk(contains(concat(raw, n, raw), n), "search works");
    assertOk(w.hub.routed.length > 0 && w.wire.length > 0);
    for (const { envelope } of w.hub.routed) {
      for (const n of needles) assertOk(!contains(envelope, n), "plaintext in an envelope");
    }
    for (const msg of w.wire) {
      for (const n of needles) assertOk(!contains(msg, n), "plaintext on the wire");
    }

    // Lengths: MSG envelopes only in the padded classes; handshakes have one length per kind.
    const classes = PAD_BUCKETS.map((p) => ENVELOPE_HEADER_LEN + 4 + p + TAG_LEN);
    const msgLens = w.hub.routed.filter((r) => r.envelope[1] === MSG).map((r) => r.envelope.length);
    for (const n of msgLens) assertOk(classes.includes(n), `MSG envelope of ${n} bytes`);
    assertEquals(new Set(msgLens), new Set(classes), "the texts filled every class");
    const firstTwo = w.hub.seen(a.key, b.key, MSG).slice(0, 2).map((e) => e.length);
    assertEquals(firstTwo, [classes[0], classes[0]], "texts of different lengths look alike");
    for (const kind of [HS1, HS2, HS3]) {
      const lens = new Set(
        w.hub.routed.filter((r) => r.envelope[1] === kind).map((r) => r.envelope.length),
      );
      assertEquals(lens.size, 1, `one length for handshake kind ${kind}`);
    }
  } finally {
    await w.close();
  }
});
