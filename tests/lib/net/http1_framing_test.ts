import fc from "fast-check";
import { assertEquals, assertOk, assertThrows } from "../../_assert.ts";
import { ChunkedDecoder, findHeadEnd, HttpError } from "../../../lib/net/http1.ts";
import { bytes, concat, latin1, splitAt } from "./_helpers.ts";

// --- findHeadEnd ------------------------------------------------------------------------------

Deno.test("http1: findHeadEnd table", () => {
  const cases: [string, number][] = [
    ["", -1],
    ["\r\n\r", -1],
    ["\r\n\r\n", 4],
    ["a\r\n\r\nb", 5],
    ["GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY", 27],
    ["\n\n", -1],
    ["a\n\r\n\r\n", 6],
    ["a\r\n\n\r\n", -1],
    ["a\r\r\n\r\n", 6],
    ["a\r\n\r\n\r\n\r\n", 5],
  ];
  for (const [s, want] of cases) {
    const b = bytes(s);
    assertEquals(findHeadEnd(b, b.length), want, JSON.stringify(s));
  }
  // Only the first `len` bytes count.
  const b = bytes("ab\r\n\r\n");
  assertEquals(findHeadEnd(b, 5), -1);
  assertEquals(findHeadEnd(b, 6), 6);
  // `from` skips what was scanned; the terminator may straddle `from`.
  assertEquals(findHeadEnd(b, 6, 5), 6);
  assertEquals(findHeadEnd(b, 6, 6), -1);
});

Deno.test("http1: property: findHeadEnd resumed over arriving chunks finds the one end", () => {
  fc.assert(
    fc.property(
      fc.stringMatching(/^[a-z\r\n: ]{0,60}$/),
      fc.stringMatching(/^[a-z\r\n]{0,10}$/),
      fc.array(fc.nat(), { maxLength: 8 }),
      (pre, post, cuts) => {
        const all = bytes(`${pre}\r\n\r\n${post}`);
        const want = findHeadEnd(all, all.length);
        assertOk(want >= 4 && want <= pre.length + 4);
        // As the server does: a buffer filled chunk by chunk, each scan from where the last
        // stopped (less 3, as the server does; exactly where it stopped also works).
        for (const back of [0, 3]) {
          let len = 0, scanned = 0, found = -1;
          for (const piece of splitAt(all, cuts)) {
            len += piece.length;
            found = findHeadEnd(all, len, Math.max(0, scanned - back));
            if (found >= 0) break;
            scanned = len;
          }
          assertEquals(found, want);
        }
      },
    ),
    { numRuns: 300 },
  );
});

// --- ChunkedDecoder ---------------------------------------------------------------------------

/** Feeds pieces; returns the body and whether it ended, checking `consumed` bookkeeping. */
function decode(d: ChunkedDecoder, pieces: Uint8Array[]): { body: string; done: boolean } {
  const out: Uint8Array[] = [];
  let done = false;
  for (const p of pieces) {
    const step = d.push(p);
    out.push(...step.data.map((x) => x.slice()));
    done = step.done;
    if (done) break;
    assertEquals(step.consumed, p.length, "a piece is consumed whole until the end");
  }
  return { body: latin1(concat(...out)), done };
}

Deno.test("http1: ChunkedDecoder known answers", () => {
  const cases: [string, string][] = [
    ["0\r\n\r\n", ""],
    ["5\r\nhello\r\n0\r\n\r\n", "hello"],
    ["5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"],
    ["a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij"],
    ["00005\r\nhello\r\n000\r\n\r\n", "hello"],
    ["5;name=value\r\nhello\r\n0;x\r\n\r\n", "hello"],
    ["5\r\nhello\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n", "hello"],
    ["3\r\n\r\n\r\r\n0\r\n\r\n", "\r\n\r"],
  ];
  for (const [wire, body] of cases) {
    const w = bytes(wire);
    const d = new ChunkedDecoder(1024);
    const step = d.push(w);
    assertEquals(step.done, true, JSON.stringify(wire));
    assertEquals(step.consumed, w.length);
    assertEquals(latin1(concat(...step.data)), body);
    // After the end, nothing more is taken: pipelined bytes stay for the next request.
    const more = new ChunkedDecoder(1024).push(concat(w, bytes("GET / HTTP/1.1\r\n")));
    assertEquals(more.consumed, w.length, `consumed stops at the end of ${JSON.stringify(wire)}`);
    assertEquals(new ChunkedDecoder(1024).push(new Uint8Array(0)).done, false);
  }
});

Deno.test("http1: ChunkedDecoder refusals", () => {
  const cases: [string, number, string][] = [
    ["5\nhello\r\n0\r\n\r\n", 400, "bare LF after the size"],
    ["5\r\nhello\n0\r\n\r\n", 400, "bare LF after the data"],
    ["5\r\nhelloX\r\n0\r\n\r\n", 400, "data longer than its size"],
    ["5\r\nhell\r\n0\r\n\r\n", 400, "data shorter than its size (the CRLF is data)"],
    ["g\r\n", 400, "not hex"],
    ["\r\n", 400, "empty size line"],
    ["-5\r\n", 400, "negative"],
    [" 5\r\n", 400, "space before the size"],
    ["5 \r\n", 400, "space after the size"],
    ["0x5\r\n", 400, "0x prefix"],
    ["123456789\r\n", 400, "nine hex digits"],
    [`5;${"e".repeat(300)}\r\n`, 400, "size line too long"],
    ["5\r\nhello\r\n0\r\nX: 1\n\r\n", 400, "bare LF in the trailer"],
  ];
  for (const [wire, status, why] of cases) {
    const e = assertThrows(
      () => new ChunkedDecoder(1 << 20).push(bytes(wire)),
      (e) => e instanceof HttpError,
      why,
    );
    assertEquals((e as HttpError).status, status, `${why}: ${e.message}`);
  }
});

Deno.test("http1: ChunkedDecoder refuses 413 at the size line, before any data", () => {
  // Exactly the limit is fine, one byte more is not, counted over all chunks.
  const ok = new ChunkedDecoder(10).push(bytes("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"));
  assertEquals(ok.done, true);
  const d = new ChunkedDecoder(10);
  assertEquals(d.push(bytes("5\r\nhello\r\n")).data.length, 1);
  const e = assertThrows(() => d.push(bytes("6\r\n")), (e) => e instanceof HttpError);
  assertEquals((e as HttpError).status, 413);
  // A declared 4 GiB chunk is refused from its size line alone.
  const big = assertThrows(() => new ChunkedDecoder(1 << 20).push(bytes("ffffffff\r\n")));
  assertEquals((big as HttpError).status, 413);
});

Deno.test("http1: ChunkedDecoder fed byte by byte equals the whole", () => {
  const wire = bytes("4;a=b\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: v\r\n\r\n");
  const whole = decode(new ChunkedDecoder(1024), [wire]);
  assertEquals(whole, { body: "Wikipedia in\r\n\r\nchunks.", done: true });
  const pieces = Array.from(wire, (b) => new Uint8Array([b]));
  assertEquals(decode(new ChunkedDecoder(1024), pieces), whole);
});

Deno.test("http1: property: ChunkedDecoder over random splits equals the whole", () => {
  const chunk = fc.uint8Array({ minLength: 1, maxLength: 40 });
  const ext = fc.constantFrom("", ";a", ";a=b", ';x="q"');
  const trailer = fc.constantFrom("", "T: 1\r\n", "A: b\r\nC: d\r\n");
  fc.assert(
    fc.property(
      fc.array(fc.tuple(chunk, ext, fc.boolean()), { maxLength: 8 }),
      trailer,
      fc.array(fc.nat(), { maxLength: 12 }),
      (chunks, tr, cuts) => {
        const wire = concat(
          ...chunks.map(([c, x, upper]) => {
            const size = c.length.toString(16);
            return concat(bytes(`${upper ? size.toUpperCase() : size}${x}\r\n`), c, bytes("\r\n"));
          }),
          bytes(`0\r\n${tr}\r\n`),
        );
        const want = latin1(concat(...chunks.map(([c]) => c)));
        const got = decode(new ChunkedDecoder(1 << 20), splitAt(wire, cuts));
        assertEquals(got, { body: want, done: true });
      },
    ),
    { numRuns: 300 },
  );
});
