/**
 * The store's write path: operations queued in one turn commit in one transaction; one that
 * throws is rolled back alone (the others commit, its journal events are dropped); callers
 * learn of the commit through the promise; statements are prepared once.
 */
import { assertEquals, assertOk, assertRejects } from "../_assert.ts";
import { openDb, walSync } from "../../daemon/db.ts";
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

Deno.test("store: beforeCommit runs once per key per batch, inside it, and a throw fails the batch", async () => {
  const { store } = await makeStore();
  const calls: string[] = [];
  const op = (x: number, key: string) => () => {
    store.stmt("INSERT INTO t (x) VALUES (?)").run(x);
    store.beforeCommit(key, () => {
      calls.push(`${key}${x}`);
      store.stmt("INSERT INTO t (x) VALUES (?)").run(100 + x);
    });
  };
  await Promise.all([store.write(op(1, "k")), store.write(op(2, "k")), store.write(op(3, "j"))]);
  assertEquals(calls, ["k2", "j3"], "once per key, the last one given, in first-asked order");
  const rows = store.db.prepare("SELECT x FROM t ORDER BY rowid").all().map((r) => Number(r.x));
  assertEquals(rows, [1, 2, 3, 102, 103]);
  assertEquals(store.stats.batches, 1);
  const failing = store.write(() => {
    store.stmt("INSERT INTO t (x) VALUES (7)").run();
    store.beforeCommit("f", () => {
      throw new Error("no");
    });
  });
  await assertRejects(() => failing, (e) => e.message === "no");
  assertEquals(store.db.prepare("SELECT count(*) AS n FROM t WHERE x = 7").get()!.n, 0);
  await store.write(op(4, "k")); // the next batch has none of the failed one's
  assertEquals(calls, ["k2", "j3", "k4"]);
  let outside: unknown;
  try {
    store.beforeCommit("z", () => {});
  } catch (e) {
    outside = e;
  }
  assertOk(outside instanceof Error, "outside an operation it throws");
});

Deno.test("store: a statement is prepared once", async () => {
  const { store } = await makeStore();
  assertOk(store.stmt("SELECT 1") === store.stmt("SELECT 1"));
});

/** A store whose durability is a sync the test finishes by hand. */
async function makeGroupStore(): Promise<
  { store: Store; journal: Journal; syncs: PromiseWithResolvers<void>[] }
> {
  const dir = await Deno.makeTempDir({ prefix: "schied-store-" });
  const sealer = new Sealer(randomSecret());
  const syncs: PromiseWithResolvers<void>[] = [];
  const durable = () => {
    const p = Promise.withResolvers<void>();
    syncs.push(p);
    return p.promise;
  };
  const s = new Store(openDb(dir, sealer, { groupSync: true }), sealer, durable);
  s.db.exec("CREATE TABLE t (x INTEGER)");
  return { store: s, journal: new Journal(s), syncs };
}

const turn = () => new Promise((r) => setTimeout(r, 0));

Deno.test("store: with group sync nothing is announced before a sync that began after the commit", async () => {
  const { store, journal, syncs } = await makeGroupStore();
  const seen: string[] = [];
  journal.subscribe((e) => seen.push(String((e.data as { id: string }).id)));
  const settled: string[] = [];
  const w = (id: string) =>
    store.write(() => {
      journal.append("status", { id, to: "p", status: "queued", seq: 1 });
      store.stmt("INSERT INTO t (x) VALUES (1)").run();
    }).then(() => settled.push(id));
  const a = w("a");
  await turn();
  assertEquals(
    [syncs.length, settled, seen, journal.lastId()],
    [1, [], [], 0],
    "a is committed, unsynced",
  );
  // b commits while a's sync runs: it waits for a second sync, which starts when the first ends.
  const b = w("b");
  await turn();
  assertEquals(syncs.length, 1, "one sync at a time");
  syncs[0]!.resolve();
  await a;
  assertEquals([settled, seen, journal.lastId()], [["a"], ["a"], 1]);
  await turn();
  assertEquals(syncs.length, 2, "b's sync began after a's ended");
  syncs[1]!.resolve();
  await b;
  assertEquals([settled, seen], [["a", "b"], ["a", "b"]]);
  assertEquals(journal.since(0, 10).length, 2);
});

Deno.test("store: a failed sync fails its writes and every later one (fail closed)", async () => {
  const { store, syncs } = await makeGroupStore();
  const a = store.write(() => store.stmt("INSERT INTO t (x) VALUES (1)").run());
  await turn();
  syncs[0]!.reject(new Error("EIO"));
  await assertRejects(() => a, (e) => /Cannot make the database durable: EIO/.test(e.message));
  await assertRejects(
    () => store.write(() => 1),
    (e) => /Cannot make the database durable/.test(e.message),
  );
});

Deno.test("store: walSync makes the WAL durable through its own descriptor", async () => {
  const dir = await Deno.makeTempDir({ prefix: "schied-store-" });
  const sealer = new Sealer(randomSecret());
  const wal = walSync(dir);
  const store = new Store(openDb(dir, sealer, { groupSync: true }), sealer, () => wal.sync());
  store.db.exec("CREATE TABLE t (x INTEGER)");
  await store.write(() => store.stmt("INSERT INTO t (x) VALUES (7)").run());
  assertEquals(store.db.prepare("PRAGMA synchronous").get()?.synchronous, 1, "NORMAL");
  await store.synced();
  wal.close();
  store.db.close();
});
