/**
 * The store's write path: operations queued in one turn commit in one transaction; one that
 * throws is rolled back alone (the others commit, its journal events are dropped); callers
 * learn of the commit through the promise; statements are prepared once.
 */
import { assertEquals, assertOk, assertRejects } from "../_assert.ts";
import { openDb } from "../../daemon/db.ts";
import { Journal } from "../../daemon/journal.ts";
import { Sealer } from "../../daemon/sealer.ts";
import { Store } from "../../daemon/store.ts";
import { randomSecret } from "../../protocol/_crypto.ts";

async function makeStore(): Promise<{ store: Store; journal: Journal }> {
  const dir = await Deno.makeTempDir({ prefix: "schied-store-" });
  const sealer = new Sealer(randomSecret());
  const s = new Store(openDb(dir, sealer), sealer);
  s.db.exec("CREATE TABLE t (x INTEGER)");
  return { store: s, journal: new Journal(s) };
}

Deno.test("store: writes queued in one turn commit together, in order, once", async () => {
  const { store } = await makeStore();
  const ins = (x: number) => () => store.stmt("INSERT INTO t (x) VALUES (?)").run(x);
  const all = await Promise.all([1, 2, 3, 4, 5].map((x) => store.write(ins(x))));
  assertEquals(all.length, 5);
  assertEquals(store.stats, { batches: 1, ops: 5 });
  const rows = store.db.prepare("SELECT x FROM t ORDER BY rowid").all().map((r) => Number(r.x));
  assertEquals(rows, [1, 2, 3, 4, 5]);
  assertOk(store.dirty);
});

Deno.test("store: an operation that throws is rolled back alone; its events are not published", async () => {
  const { store, journal } = await makeStore();
  const seen: string[] = [];
  journal.subscribe((e) => seen.push(String((e.data as { id: string }).id)));
  const ok1 = store.write(() => {
    journal.append("status", { id: "a", to: "p", status: "queued", seq: 1 });
    store.stmt("INSERT INTO t (x) VALUES (1)").run();
  });
  const bad = store.write(() => {
    journal.append("status", { id: "b", to: "p", status: "queued", seq: 1 });
    store.stmt("INSERT INTO t (x) VALUES (2)").run();
    throw new Error("boom");
  });
  const ok2 = store.write(() => {
    journal.append("status", { id: "c", to: "p", status: "queued", seq: 1 });
    store.stmt("INSERT INTO t (x) VALUES (3)").run();
  });
  await ok1;
  await assertRejects(() => bad, (e) => e.message === "boom");
  await ok2;
  const rows = store.db.prepare("SELECT x FROM t ORDER BY rowid").all().map((r) => Number(r.x));
  assertEquals(rows, [1, 3], "the failed operation left nothing");
  assertEquals(seen, ["a", "c"], "and announced nothing");
  assertEquals(journal.since(0, 10).map((e) => (e.data as { id: string }).id), ["a", "c"]);
});

Deno.test("store: a statement is prepared once", async () => {
  const { store } = await makeStore();
  assertOk(store.stmt("SELECT 1") === store.stmt("SELECT 1"));
});
