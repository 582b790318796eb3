/**
 * The file state machine through delivery, in memory (tests/daemon/_delivery_world.ts: two
 * stores, a fake relay, a clock moved by hand): a file completes and its bytes match; progress
 * events are rate-limited by the injected clock; a non-contact's file is held with nothing on
 * disk until accepted; the size limit and the per-peer quota refuse an offer on both sides; a
 * chunk that does not open and a file whose hash does not match fail visibly on both sides.
 *
 * @module
 */
import { assertEquals } from "../_assert.ts";
import { waitFor } from "../harness.ts";
import { Clock, FakeRelay, makeSide, pair, type Side } from "./_delivery_world.ts";
import type { EngineParts } from "../../daemon/_engine_parts.ts";
import { acceptFile, sendFile } from "../../daemon/_engine_files.ts";
import { openedStream } from "../../daemon/_files_disk.ts";
import { FILE_BLOCK_BYTES, FILE_CHUNK_BYTES } from "../../protocol/file.ts";
import type { FileRecord } from "../../daemon/service.ts";
import { sha256Hex, testBytes } from "../e2e/_files.ts";

/** The engine parts sendFile and acceptFile use, of one side. */
function parts(s: Side, clock: Clock): EngineParts {
  return {
    files: s.files,
    contacts: s.contacts,
    self: { idText: s.idText },
    outbox: s.outbox,
    store: s.store,
    now: clock.now,
    relay: () => undefined,
    relayAddress: () => undefined,
  } as unknown as EngineParts;
}

function offer(
  from: Side,
  to: Side,
  clock: Clock,
  bytes: Uint8Array<ArrayBuffer>,
): Promise<FileRecord> {
  return sendFile(parts(from, clock), {
    to: to.idText,
    name: "f.bin",
    body: new Response(bytes).body!,
  }) as Promise<FileRecord>; // to a peer: one file
}

const state = (s: Side, id: string) => s.files.files.get(id)?.state;
const until = (s: Side, id: string, want: string) =>
  waitFor(() => state(s, id) === want, `${s.idText.slice(0, 8)}: ${id} ${want}`, 20_000);
const phases = (s: Side, id: string) =>
  s.events.flatMap((e) => e.type === "file" && e.data.file.id === id ? [e.data.phase] : []);

async function contentAt(s: Side, id: string): Promise<Uint8Array> {
  const row = s.files.files.get(id)!;
  const body = openedStream(s.files.files.inPath(id), id, row.key, row.size, 0, row.size - 1);
  return new Uint8Array(await new Response(body).arrayBuffer());
}

Deno.test("a file goes whole; progress events are rate-limited by the clock", async () => {
  const { a, b, relay, clock } = await pair();
  const bytes = testBytes(20 * FILE_CHUNK_BYTES + 123);
  const f = await offer(a, b, clock, bytes);
  await until(b, f.id, "complete");
  await until(a, f.id, "complete");
  assertEquals(sha256Hex(await contentAt(b, f.id)), sha256Hex(bytes));
  // The clock stood still: one progress event each side (the first), none after it.
  assertEquals(phases(b, f.id), ["offered", "accepted", "progress", "complete"]);
  assertEquals(phases(a, f.id), ["offered", "accepted", "progress", "complete"]);
  // A contact's file is taken at once: its offer never reads "held" (a stranger's request).
  const offered = b.events.find((e) =>
    e.type === "file" && e.data.file.id === f.id && e.data.phase === "offered"
  );
  assertEquals(offered?.type === "file" && offered.data.file.state, "receiving");
  assertEquals(b.files.files.get(f.id)!.done, 21);
  // The sender's copy is gone once the last chunk is acknowledged.
  await waitFor(() => Deno.stat(a.files.files.outPath(f.id)).then(() => false, () => true), "gone");
  // As the clock moves: at most one progress event per PROGRESS_MS (500 ms) per file.
  void relay;
  const row = b.files.files.get(f.id)!;
  const count = () => b.events.filter((e) => e.type === "file").length;
  const before = count();
  for (const step of [0, 100, 399, 1, 499, 1]) { // at +0, +100, +499, +500, +999, +1000
    clock.advance(step);
    await b.store.write(() => b.files.files.event(row, "progress"));
  }
  // At +0 (the file's last one was forgotten as it completed), +500 and +1000 only.
  assertEquals(count() - before, 3);
});

Deno.test("a non-contact's file is held, nothing on disk, until accepted", async () => {
  const relay = new FakeRelay(), clock = new Clock();
  const a = await makeSide(relay, clock), b = await makeSide(relay, clock);
  await a.store.write(() => a.contacts.add(b.idText, null)); // B does not know A
  const bytes = testBytes(3 * FILE_CHUNK_BYTES);
  const f = await offer(a, b, clock, bytes);
  await until(b, f.id, "held");
  assertEquals(b.contacts.kindOf(a.idText), "request");
  assertEquals(phases(b, f.id), ["offered"]);
  const onDisk = await Array.fromAsync(Deno.readDir(b.files.files.opts.dir)).catch(() => []);
  assertEquals(onDisk, [], "nothing of the file is on B's disk");
  assertEquals(state(a, f.id), "offered");
  await acceptFile(parts(b, clock), f.id);
  await until(b, f.id, "complete");
  await until(a, f.id, "complete");
  assertEquals(sha256Hex(await contentAt(b, f.id)), sha256Hex(bytes));
});

Deno.test("a non-contact holds at most 16 files here: the 17th waits at its sender, unacknowledged", async () => {
  const relay = new FakeRelay(), clock = new Clock();
  const a = await makeSide(relay, clock), b = await makeSide(relay, clock);
  await a.store.write(() => a.contacts.add(b.idText, null));
  const ids: string[] = [];
  for (let i = 0; i < 17; i++) ids.push((await offer(a, b, clock, testBytes(10, i + 1))).id);
  await until(b, ids[15]!, "held");
  // Acknowledged up to the 16th offer: the 17th is the oldest still pending at A.
  await waitFor(() => a.outbox.first(b.idText)?.file === ids[16], "the 17th waits at A");
  assertEquals(ids.map((id) => state(b, id) ?? "-"), [...Array(16).fill("held"), "-"]);
  assertEquals(state(a, ids[16]!), "offered");
});

Deno.test("the size limit and the per-peer quota refuse an offer, on both sides", async () => {
  const { a, b, clock } = await pair({ maxFileBytes: 300_000 });
  const big = await offer(a, b, clock, testBytes(300_001)).catch((e) => e as Error);
  assertEquals((big as { code?: string }).code, "file_too_large", "the sender's own limit");
  assertEquals(a.files.files.list(undefined, 10), [], "nothing kept of it");
  await Array.fromAsync(Deno.readDir(`${a.files.files.opts.dir}/out`)).then((l) =>
    assertEquals(l, [], "its partial copy deleted")
  );
  void b;
  // The receiver's limits are its own: a lower maximum, a quota.
  const relay = new FakeRelay(), c = new Clock();
  const s = await makeSide(relay, c);
  const r = await makeSide(relay, c, { maxFileBytes: 400_000, quotaBytes: 500_000 });
  await s.store.write(() => s.contacts.add(r.idText, null));
  await r.store.write(() => r.contacts.add(s.idText, null));
  const tooBig = await offer(s, r, c, testBytes(400_001));
  const first = await offer(s, r, c, testBytes(300_000));
  const second = await offer(s, r, c, testBytes(300_000, 3));
  for (
    const [id, want, reason] of [
      [tooBig.id, "failed", "too_large"],
      [first.id, "complete", undefined],
      [second.id, "failed", "quota"],
    ] as const
  ) {
    await until(r, id, want);
    await until(s, id, want);
    assertEquals([r.files.files.get(id)!.reason, s.files.files.get(id)!.reason], [reason, reason]);
  }
  assertEquals(phases(s, second.id), ["offered", "failed"]);
  assertEquals(r.files.files.usedBy(s.idText), 300_000);
});

Deno.test("a chunk that does not open, or a whole that does not hash, fails on both sides", async () => {
  const { a, b, relay, clock } = await pair();
  // A's copy corrupted on disk before the transfer: chunk 1 does not open at B.
  relay.state = "offline";
  const f = await offer(a, b, clock, testBytes(3 * FILE_CHUNK_BYTES));
  const path = a.files.files.outPath(f.id);
  const disk = await Deno.readFile(path);
  disk[FILE_BLOCK_BYTES + 5]! ^= 1;
  await Deno.writeFile(path, disk);
  // And a second file announced with another hash than its bytes have.
  const g = await offer(a, b, clock, testBytes(2 * FILE_CHUNK_BYTES, 5));
  a.store.db.prepare("UPDATE files SET sha256 = ? WHERE id = ?").run("ab".repeat(32), g.id);
  relay.state = "online";
  a.delivery.onRelayOnline();

  await until(b, f.id, "failed");
  await until(a, f.id, "failed");
  assertEquals([b.files.files.get(f.id)!.reason, a.files.files.get(f.id)!.reason], [
    "bad_chunk",
    "bad_chunk",
  ]);
  assertEquals(b.files.files.get(f.id)!.done, 1, "chunk 0 was stored, chunk 1 refused");
  await until(b, g.id, "failed");
  await until(a, g.id, "failed");
  assertEquals([b.files.files.get(g.id)!.reason, a.files.files.get(g.id)!.reason], [
    "bad_hash",
    "bad_hash",
  ]);
  for (const id of [f.id, g.id]) {
    for (const p of [b.files.files.partPath(id), b.files.files.inPath(id)]) {
      await waitFor(() => Deno.stat(p).then(() => false, () => true), `${p} deleted`);
    }
  }
});
