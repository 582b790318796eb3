/**
 * Row ids (daemon/_ids.ts): RFC 9562 version-7 UUIDs, lowercase, whose text order is their time
 * order, unique among many made in the same millisecond.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { rowId } from "../../daemon/_ids.ts";

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

Deno.test("rowId: a lowercase version-7 UUID whose first 48 bits are the time in ms", () => {
  const t = Date.UTC(2026, 11, 1, 22, 0, 0, 123);
  const id = rowId(t);
  assertOk(V7.test(id), id);
  assertEquals(parseInt(id.replace(/-/g, "").slice(0, 12), 16), t);
  // Out of range: clamped, never malformed.
  assertEquals(rowId(-5).slice(0, 13), "00000000-0000");
  assertEquals(rowId(2 ** 50).slice(0, 13), "ffffffff-ffff");
  assertOk(V7.test(rowId(1.5)));
});

Deno.test("rowId: text order is time order; many in one millisecond are all distinct", () => {
  const times = [0, 1, 255, 256, 65_535, 65_536, 2 ** 32, 2 ** 40 + 7, Date.now()];
  const ids = times.map(rowId);
  assertEquals([...ids].sort(), ids);
  const same = new Set(Array.from({ length: 10_000 }, () => rowId(1_800_000_000_000)));
  assertEquals(same.size, 10_000);
});
