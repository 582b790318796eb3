/**
 * The file routes over a fake service: a raw upload (its name, type and size passed on, the
 * type guessed from the name when curl sends none), a multipart one (the part's name and type),
 * 413 by Content-Length before the service reads a byte, a raw upload's default name, the
 * errors of a ?size= against the body's length and of a form with no or two file parts, the list, and downloads: headers, one Range, a suffix range, 416 outside the file.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { defaultName, disposition, parseRange } from "../../api/_files_http.ts";
import { fakeFile } from "./_fake_files.ts";
import { startApi } from "./_helpers.ts";

const TO = "0b3e51c2-6f1d-8a4e-9c1b-2d3e4f5a6b7c";

Deno.test("files API: raw and multipart uploads, 413 by length, the errors of a bad upload", async () => {
  await using api = startApi();
  const raw = await api.fetch(`/files?to=${TO}&name=notes.txt`, {
    method: "PUT",
    body: new Uint8Array(100),
  });
  assertEquals(raw.status, 202);
  const r = await raw.json();
  assertEquals([r.name, r.type, r.size, r.state], ["notes.txt", "text/plain", 100, "offered"]);
  const form = new FormData();
  form.append("file", new File([new Uint8Array(7)], "a b.csv", { type: "text/csv" }));
  const multi = await api.fetch(`/files?to=${TO}`, { method: "POST", body: form });
  const m = await multi.json();
  assertEquals([multi.status, m.name, m.type, m.size], [202, "a b.csv", "text/csv", 7]);
  api.fake.maxFileBytes = 50;
  const big = await api.fetch(`/files?to=${TO}&name=x`, {
    method: "PUT",
    body: new Uint8Array(51),
  });
  assertEquals([big.status, (await big.json()).error.code], [413, "file_too_large"]);
  // `curl -T FILE '…/files?to=bob'` names none: a dated default, the extension from the type.
  const noName = await api.fetch(`/files?to=${TO}`, { method: "PUT", body: Uint8Array.of(1) });
  const nn = await noName.json();
  assertEquals(noName.status, 202);
  assertOk(/^upload-\d{8}-\d{6}\.bin$/.test(nn.name), nn.name);
  const typed = await api.fetch(`/files?to=${TO}&type=application/pdf`, {
    method: "PUT",
    body: "x",
  });
  assertOk(/^upload-\d{8}-\d{6}\.pdf$/.test((await typed.json()).name));
  // A ?size= that disagrees with the body's length; a form with two files.
  const lying = await api.fetch(`/files?to=${TO}&name=x&size=5`, {
    method: "PUT",
    body: "23 bytes of a real body",
  });
  assertEquals([lying.status, (await lying.json()).error.code], [400, "bad_request"]);
  const two = new FormData();
  two.append("file", new File(["a"], "a.txt"));
  two.append("other", new File(["b"], "b.txt"));
  const twice = await api.fetch(`/files?to=${TO}`, { method: "POST", body: two });
  const tw = await twice.json();
  assertEquals([twice.status, tw.error.code], [400, "bad_request"]);
  assertOk(/2 file parts/.test(tw.error.message), tw.error.message);
  const noTo = await api.fetch(`/files?name=x`, { method: "PUT", body: "x" });
  assertEquals(noTo.status, 400);
  await noTo.body?.cancel();
  const empty = new FormData();
  empty.append("note", "no file here");
  const noPart = await api.fetch(`/files?to=${TO}`, { method: "POST", body: empty });
  assertEquals([noPart.status, (await noPart.json()).error.message], [
    400,
    "The form has no file part (-F file=@PATH)",
  ]);
  const list = await (await api.fetch("/files")).json();
  const names: string[] = list.files.map((f: { name: string }) => f.name);
  assertEquals(names.slice(0, 3), ["notes.txt", "a b.csv", nn.name]);
  assertOk(/^upload-\d{8}-\d{6}\.pdf$/.test(names[3]!), names.join());
  assertEquals(names.length, 4, "the refused uploads are not listed");
});

Deno.test("files API: a download's headers, one Range, a suffix, 416 outside", async () => {
  await using api = startApi();
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i & 255);
  const file = fakeFile({ id: "f".repeat(32), name: "rapport é.pdf", size: 1000 });
  api.fake.fileMap.set(file.id, { file, bytes });
  const whole = await api.fetch(`/files/${file.id}`);
  assertEquals(whole.status, 200);
  assertEquals(whole.headers.get("content-type"), "application/pdf");
  assertEquals(
    whole.headers.get("content-disposition"),
    `attachment; filename="rapport _.pdf"; filename*=UTF-8''rapport%20%C3%A9.pdf`,
  );
  assertEquals(whole.headers.get("x-content-type-options"), "nosniff");
  assertEquals(new Uint8Array(await whole.arrayBuffer()), bytes);
  const part = await api.fetch(`/files/${file.id}`, { headers: { range: "bytes=10-19" } });
  assertEquals([part.status, part.headers.get("content-range")], [206, "bytes 10-19/1000"]);
  assertEquals(new Uint8Array(await part.arrayBuffer()), bytes.slice(10, 20));
  const out = await api.fetch(`/files/${file.id}`, { headers: { range: "bytes=1000-" } });
  assertEquals([out.status, out.headers.get("content-range")], [416, "bytes */1000"]);
  await out.body?.cancel();
  const info = await (await api.fetch(`/files/${file.id}?info=1`)).json();
  assertEquals(info.name, "rapport é.pdf");
  const none = await api.fetch(`/files/${"0".repeat(32)}`);
  assertEquals(none.status, 404);
  await none.body?.cancel();
});

Deno.test("Range: one range, a suffix, open-ended; several or malformed ranges mean the whole", () => {
  assertEquals(parseRange("bytes=0-0", 10), { start: 0, end: 0 });
  assertEquals(parseRange("bytes=5-", 10), { start: 5, end: 9 });
  assertEquals(parseRange("bytes=5-100", 10), { start: 5, end: 9 });
  assertEquals(parseRange("bytes=-3", 10), { start: 7, end: 9 });
  assertEquals(parseRange("bytes=-30", 10), { start: 0, end: 9 });
  assertEquals(parseRange("bytes=10-", 10), null);
  assertEquals(parseRange("bytes=-0", 10), null);
  assertEquals(parseRange("bytes=4-2", 10), null);
  assertEquals(parseRange(undefined, 10), undefined);
  assertEquals(parseRange("bytes=0-1,3-4", 10), undefined);
  assertEquals(parseRange("items=0-1", 10), undefined);
});

Deno.test("Content-Disposition: an ASCII fallback and an RFC 8187 filename* (attr-chars only)", () => {
  assertEquals(
    disposition(`it's (1)*!.txt`),
    `attachment; filename="it's (1)*!.txt"; filename*=UTF-8''it%27s%20%281%29%2A%21.txt`,
  );
  assertEquals(
    disposition('Grüße "x"\\.txt'),
    `attachment; filename="Gr__e _x__.txt"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%22x%22%5C.txt`,
  );
  assertEquals(
    defaultName("text/plain; charset=utf-8", new Date(Date.UTC(2026, 11, 2, 3, 4, 5))),
    "upload-20261202-030405.txt",
  );
});

Deno.test("files API: an upload refused before its body (too large) answers without 100 Continue", async () => {
  await using api = startApi();
  api.fake.maxFileBytes = 50;
  const port = api.server.port;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(
      `PUT /files?to=${TO}&name=x HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
        `Authorization: Bearer ${api.token}\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n`,
    ));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    const first = new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0];
    assertEquals(first, "HTTP/1.1 413 Content Too Large", "curl sends no byte of the body");
  } finally {
    conn.close();
  }
});
