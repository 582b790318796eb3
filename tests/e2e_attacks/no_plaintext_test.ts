/**
 * The relay never sees plaintext nor exact lengths: every envelope it routes, and every raw
 * WebSocket message it receives, is searched for a random marker the users wrote (as UTF-8,
 * raw bytes, hex, base64, base64url) and for the inner payload's JSON; MSG envelopes come only
 * in the padded size classes, whatever the text length (plus, in the chains that carry them, the
 * ML-KEM fields of the encrypted header); handshakes have one length per kind; and no two MSGs
 * share a byte string a relay could link them by (no session id or counter in clear: the header
 * is encrypted).
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { concat, toBase64Url, toHex, utf8 } from "../../protocol/bytes.ts";
import {
  MLKEM_CIPHERTEXT_LEN,
  MLKEM_PUBLIC_KEY_LEN,
  PAD_BUCKETS,
  TAG_LEN,
} from "../../protocol/constants.ts";
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

/** `2 ‖ shape` ‖ encrypted header without KEM fields (siv 12 ‖ dh, pn, n 40 ‖ tag 16). */
const MSG_BASE = 2 + 12 + 40 + TAG_LEN;
/** Handshake envelope lengths: `1 ‖ kind ‖ hid (8)` and the hybrid XXhfs messages. */
const HS_LENS: Record<number, number> = { [HS1]: 1228, [HS2]: 1307, [HS3]: 170 };

/** The ML-KEM bytes a MSG's encrypted header carries, by its shape byte (section 13.3). */
function kemBytes(shape: number): number {
  return (shape & 1 ? MLKEM_PUBLIC_KEY_LEN : 0) + (shape & 2 ? MLKEM_CIPHERTEXT_LEN : 0);
}

/** The padding class of a MSG envelope, from its length and shape. */
function classOf(env: Uint8Array): number {
  return env.length - MSG_BASE - kemBytes(env[1]!) - TAG_LEN;
}

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

    // Lengths: MSG envelopes only in the padded classes (plus the KEM fields their shape says);
    // handshakes have one length per kind.
    const msgs = w.hub.ofKind(MSG);
    for (const env of msgs) {
      assertOk(env[1]! <= 3, `shape ${env[1]}`);
      assertOk(PAD_BUCKETS.includes(classOf(env)), `MSG envelope of ${env.length} bytes`);
    }
    assertEquals(
      new Set(msgs.map(classOf)),
      new Set(PAD_BUCKETS),
      "the texts filled every class",
    );
    const firstTwo = w.hub.seen(a.key, b.key, MSG).slice(0, 2).map(classOf);
    assertEquals(
      firstTwo,
      [PAD_BUCKETS[0], PAD_BUCKETS[0]],
      "texts of different lengths look alike",
    );
    for (const kind of [HS1, HS2, HS3]) {
      const lens = new Set(w.hub.ofKind(kind).map((e) => e.length));
      assertEquals([...lens], [HS_LENS[kind]], `one length for handshake kind ${kind}`);
    }

    // Nothing links two MSGs: after the 2-byte prefix, no 8 bytes at any of the first offsets
    // (where a session id or a counter would be) repeat across MSGs, in either direction.
    assertOk(msgs.length >= pads.length + 2, `${msgs.length} MSGs`);
    const distinct = (list: Uint8Array[], off: number) =>
      new Set(list.map((e) => toHex(e.subarray(off, off + 8)))).size === list.length;
    for (let off = 2; off < 2 + 12 + 40; off++) {
      assertOk(distinct(msgs, off), `bytes ${off}..${off + 8} repeat across MSGs`);
    }
    // Positive control: a schied/1-style session id in clear (at offset 2) would be caught.
    const sid = crypto.getRandomValues(new Uint8Array(8));
    const linked = msgs.map((e) => concat(e.subarray(0, 2), sid, e.subarray(10)));
    assertOk(!distinct(linked, 2), "the check finds a repeated id");
  } finally {
    await w.close();
  }
});
