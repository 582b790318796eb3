/**
 * The file codec (protocol/file.ts, _payload_file.ts): chunks open only at their index, in their
 * file, under their key and at the length the size implies; the largest chunk's payload fits the
 * largest padding class; each malformed field of an offer or a chunk has its own error.
 *
 * @module
 */
import { assertEquals, assertOk, assertThrows } from "../_assert.ts";
import { toBase64Url, utf8 } from "../../protocol/bytes.ts";
import { PAD_BUCKETS } from "../../protocol/constants.ts";
import { pad, unpad } from "../../protocol/envelope.ts";
import {
  chunkCount,
  chunkSize,
  FILE_BLOCK_BYTES,
  FILE_CHUNK_BYTES,
  fileNameProblem,
  openChunk,
  sealChunk,
} from "../../protocol/file.ts";
import { encodePayload, parsePayload } from "../../protocol/payload.ts";

const key = new Uint8Array(32).fill(7);
const fileId = new Uint8Array(16).fill(9);
const fileHex = "09".repeat(16);

Deno.test("a chunk opens at its index, in its file, under its key, at its length only", () => {
  const size = FILE_CHUNK_BYTES + 100;
  assertEquals([chunkCount(size), chunkSize(size, 0), chunkSize(size, 1)], [
    2,
    FILE_CHUNK_BYTES,
    100,
  ]);
  assertEquals(chunkCount(0), 0);
  const plain = new Uint8Array(100).fill(3);
  const sealed = sealChunk(key, fileId, 1, plain);
  assertEquals(openChunk(key, fileId, 1, size, sealed), plain);
  // Deterministic: a chunk sent again is the same bytes.
  assertEquals(sealChunk(key, fileId, 1, plain), sealed);
  const refused = (f: () => unknown, re: RegExp) =>
    assertThrows(
      f,
      (e) => (e as { code?: string }).code === "decrypt_failed" && re.test(e.message),
    );
  refused(() => openChunk(key, fileId, 0, size, sealed), /bytes, expected/); // another index
  refused(() => openChunk(key, fileId, 5, size, sealed), /index 5 ≥ 2 chunks/);
  const otherFile = new Uint8Array(16).fill(8);
  refused(() => openChunk(key, otherFile, 1, size, sealed), /authentication failed/);
  refused(() => openChunk(new Uint8Array(32), fileId, 1, size, sealed), /authentication failed/);
  const flipped = sealed.slice();
  flipped[10]! ^= 1;
  refused(() => openChunk(key, fileId, 1, size, flipped), /authentication failed/);
  // The same bytes as chunk 1 of a longer file: a file cannot be lengthened or cut short.
  refused(() => openChunk(key, fileId, 1, size + 1, sealed), /bytes, expected 117/);
});

Deno.test("the largest chunk's payload fits the largest padding class with room to spare", () => {
  const block = new Uint8Array(FILE_BLOCK_BYTES).fill(255);
  const p = {
    t: "fc" as const,
    id: crypto.randomUUID(),
    seq: Number.MAX_SAFE_INTEGER,
    ts: Number.MAX_SAFE_INTEGER,
    floor: Number.MAX_SAFE_INTEGER,
    file: fileHex,
    i: Number.MAX_SAFE_INTEGER,
    data: toBase64Url(block),
  };
  const bytes = encodePayload(p);
  const room = PAD_BUCKETS[PAD_BUCKETS.length - 1]! - 4;
  assertOk(bytes.length + 2000 < room, `${bytes.length} bytes against ${room}`);
  assertEquals(parsePayload(unpad(pad(bytes))), p);
});

function offer(over: Record<string, unknown> = {}) {
  return {
    t: "fo",
    id: "0123-abcd",
    seq: 4,
    ts: 1,
    file: fileHex,
    name: "report.pdf",
    size: 12,
    type: "application/pdf",
    sha256: "ab".repeat(32),
    key: toBase64Url(key),
    ...over,
  };
}

Deno.test("an offer, an acceptance, an end and a chunk parse; each bad field has its message", () => {
  const parse = (j: unknown) => parsePayload(utf8.encode(JSON.stringify(j)));
  assertEquals(parse(offer()), offer());
  assertEquals(parse(offer({ type: "Text/Plain" })), offer({ type: "text/plain" }));
  assertEquals(parse({ t: "fa", id: "1", seq: 2, ts: 3, file: fileHex }), {
    t: "fa",
    id: "1",
    seq: 2,
    ts: 3,
    file: fileHex,
  });
  assertEquals(parse({ t: "fx", id: "1", seq: 2, ts: 3, file: fileHex, reason: "quota" }).t, "fx");
  const bad = (j: unknown, msg: string) =>
    assertThrows(() => parse(j), (e) => e.message === `Cannot parse payload: ${msg}`);
  bad(offer({ file: "x" }), "file is not a file id");
  bad(offer({ name: "../etc/passwd" }), "name has a slash or a control character");
  bad(offer({ name: "" }), "name has 0 bytes, not 1 to 255");
  bad(offer({ name: ".." }), "name is . or ..");
  bad(offer({ size: -1 }), "size is not a non-negative integer");
  bad(offer({ size: 2 ** 41 }), "size 2199023255552 exceeds 1099511627776");
  bad(offer({ type: "text" }), "type is not a media type");
  bad(offer({ sha256: "AB".repeat(32) }), "sha256 is not 64 lowercase hex digits");
  bad(offer({ key: "abc" }), "key is not 32 bytes in base64url");
  // A group's file names its group (the receiver keeps it only from a member).
  assertEquals(parse(offer({ g: "ab".repeat(16) })), offer({ g: "ab".repeat(16) }));
  bad(offer({ g: "team" }), "g is not a group id");
  bad(offer({ seq: 0 }), "seq is not a positive integer");
  bad(offer({ floor: 9 }), "floor is not a sequence number at most seq");
  const chunk = { t: "fc", id: "1", seq: 2, ts: 3, file: fileHex, i: 0, data: toBase64Url(key) };
  bad({ ...chunk, i: 1.5 }, "i is not a non-negative integer");
  bad({ ...chunk, data: "" }, `data is not 16 to ${FILE_BLOCK_BYTES} bytes in base64url`);
  bad(
    { ...chunk, data: toBase64Url(new Uint8Array(FILE_BLOCK_BYTES + 1)) },
    `data is not 16 to ${FILE_BLOCK_BYTES} bytes in base64url`,
  );
  bad(
    { t: "fx", id: "1", seq: 2, ts: 3, file: fileHex, reason: "No!" },
    "reason is not a reason code",
  );
});

Deno.test("file names: what a receiver may use as one", () => {
  assertEquals(fileNameProblem("notes – été.txt"), undefined);
  assertEquals(fileNameProblem("a\u0000b"), "name has a slash or a control character");
  assertEquals(fileNameProblem("a\\b"), "name has a slash or a control character");
  assertEquals(fileNameProblem("é".repeat(128)), "name has 256 bytes, not 1 to 255");
});
