import fc from "fast-check";
import { assertEquals, assertOk } from "../../_assert.ts";
import {
  connectionBudget,
  ConnectionGate,
  descriptorLimit,
  type Evictable,
  FALLBACK_FD_LIMIT,
  MIN_FD_HEADROOM,
  sourceKey,
} from "../../../lib/net/limits.ts";

Deno.test("limits: sourceKey table", () => {
  const cases: [string, string][] = [
    // IPv4: the address itself.
    ["127.0.0.1", "127.0.0.1"],
    ["192.0.2.7", "192.0.2.7"],
    ["0.0.0.0", "0.0.0.0"],
    // IPv6: its /64, in lowercase, groups without leading zeros.
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8:0:0::/64"],
    ["2001:DB8:AB:CD:1:2:3:4", "2001:db8:ab:cd::/64"],
    ["2001:db8:ab:cd::", "2001:db8:ab:cd::/64"],
    ["2001:db8:ab:cd:ffff:ffff:ffff:ffff", "2001:db8:ab:cd::/64"],
    ["2001:db8:ab:ce::1", "2001:db8:ab:ce::/64"],
    ["::1", "0:0:0:0::/64"],
    ["::", "0:0:0:0::/64"],
    ["fe80::1", "fe80:0:0:0::/64"],
    ["1::", "1:0:0:0::/64"],
    ["1:2:3:4:5::", "1:2:3:4::/64"],
    ["1:2:3::4:5:6:7", "1:2:3:0::/64"],
    // Zone ids are dropped.
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["fe80::abcd%25", "fe80:0:0:0::/64"],
    // IPv4-mapped: the IPv4 address, in any spelling.
    ["::ffff:192.0.2.7", "192.0.2.7"],
    ["::FFFF:10.1.2.3", "10.1.2.3"],
    ["::ffff:c000:207", "192.0.2.7"],
    ["0:0:0:0:0:ffff:127.0.0.1", "127.0.0.1"],
    ["0000:0000:0000:0000:0000:ffff:7f00:0001", "127.0.0.1"],
    ["::ffff:0.0.0.0", "0.0.0.0"],
    ["::ffff:255.255.255.255", "255.255.255.255"],
    // Other embedded IPv4 forms are plain IPv6 (not mapped).
    ["::1.2.3.4", "0:0:0:0::/64"],
    ["64:ff9b::192.0.2.7", "64:ff9b:0:0::/64"],
    ["::fffe:1.2.3.4", "0:0:0:0::/64"],
    // Not an IPv6 address: kept as it is (the caller got it from the OS; never guessed).
    ["1::2::3", "1::2::3"],
    ["1:2:3:4:5:6:7", "1:2:3:4:5:6:7"],
    ["1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8:9"],
    ["1:2:3:4:5:6:7::8", "1:2:3:4:5:6:7::8"],
    ["12345::1", "12345::1"],
    ["12zz::1", "12zz::1"],
    ["::ffff:1.256.1.1", "::ffff:1.256.1.1"],
    ["::ffff:999.1.1.1", "::ffff:999.1.1.1"],
    ["g::1", "g::1"],
  ];
  for (const [addr, key] of cases) assertEquals(sourceKey(addr), key, addr);
});

Deno.test("limits: property: every address of a /64 has the same key, another /64 another", () => {
  const group = fc.nat(0xffff);
  const groups = (n: number) => fc.array(group, { minLength: n, maxLength: n });
  fc.assert(
    fc.property(groups(4), groups(4), groups(4), fc.nat(3), (prefix, a, b, flip) => {
      fc.pre(!(prefix.slice(0, 5).every((x) => x === 0)));
      const full = (g: number[]) => g.map((x) => x.toString(16).padStart(4, "0")).join(":");
      const short = (g: number[]) => g.map((x) => x.toString(16)).join(":");
      const k1 = sourceKey(`${full(prefix)}:${full(a)}`);
      const k2 = sourceKey(`${short(prefix)}:${short(b)}`.toUpperCase());
      assertEquals(k1, k2);
      assertEquals(k1, `${short(prefix)}::/64`);
      const other = [...prefix];
      other[flip] = (other[flip]! + 1) & 0xffff;
      assertOk(sourceKey(`${short(other)}:${short(a)}`) !== k1);
    }),
    { numRuns: 300 },
  );
});

Deno.test("limits: property: an IPv4-mapped address counts as its IPv4 address", () => {
  fc.assert(
    fc.property(fc.ipV4(), (v4) => {
      assertEquals(sourceKey(v4), v4);
      assertEquals(sourceKey(`::ffff:${v4}`), v4);
      const [a, b, c, d] = v4.split(".").map(Number) as [number, number, number, number];
      const hi = ((a << 8) | b).toString(16), lo = ((c << 8) | d).toString(16);
      assertEquals(sourceKey(`::ffff:${hi}:${lo}`), v4);
    }),
    { numRuns: 200 },
  );
});

Deno.test("limits: connectionBudget arithmetic", () => {
  const cases: [number, number][] = [
    [0, 1],
    [1, 1],
    [64, 1],
    [65, 1],
    [66, 2],
    [256, 192],
    [1024, 960], // the usual soft limit: 64 kept free
    [1280, 1216], // 5 % = 64 exactly
    [1281, 1216], // 5 % = 64.05, rounded up to 65
    [2000, 1900],
    [20000, 19000],
    [65536, 62259],
    [1 << 20, 996147],
  ];
  for (const [fd, want] of cases) assertEquals(connectionBudget(fd), want, `fd limit ${fd}`);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1 << 24 }), (fd) => {
      const b = connectionBudget(fd);
      assertOk(Number.isInteger(b) && b >= 1);
      if (fd > MIN_FD_HEADROOM) {
        assertOk(fd - b >= MIN_FD_HEADROOM, "at least the headroom kept");
        assertOk(fd - b >= fd * 0.05, "at least 5 % kept");
      }
      assertOk(connectionBudget(fd + 1) >= b, "monotone");
    }),
    { numRuns: 500 },
  );
});

/** Runs `fn` with SCHIED_FD_LIMIT set to `value` (or unset), restoring it after. */
function withFdEnv<T>(value: string | undefined, fn: () => T): T {
  const saved = Deno.env.get("SCHIED_FD_LIMIT");
  try {
    if (value === undefined) Deno.env.delete("SCHIED_FD_LIMIT");
    else Deno.env.set("SCHIED_FD_LIMIT", value);
    return fn();
  } finally {
    if (saved === undefined) Deno.env.delete("SCHIED_FD_LIMIT");
    else Deno.env.set("SCHIED_FD_LIMIT", saved);
  }
}

Deno.test("limits: descriptorLimit takes SCHIED_FD_LIMIT when it is a positive integer", () => {
  const fallback = withFdEnv(undefined, descriptorLimit);
  assertEquals(withFdEnv("4321", descriptorLimit), 4321);
  assertEquals(withFdEnv("1048576", descriptorLimit), 1048576);
  for (const bad of ["", "0", "-5", "1.5", "abc", "12abc", "1e400", "9007199254740993"]) {
    assertEquals(withFdEnv(bad, descriptorLimit), fallback, `SCHIED_FD_LIMIT=${bad}`);
  }
  assertEquals(withFdEnv("4321", () => connectionBudget()), connectionBudget(4321));
});

Deno.test("limits: without SCHIED_FD_LIMIT, the soft limit when readable, else the fallback", () => {
  // Deno refuses /proc/self/* to anything short of --allow-all: under these tests'
  // permissions the fallback is what comes back.
  let want = FALLBACK_FD_LIMIT;
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(Deno.readTextFileSync("/proc/self/limits"));
    if (m) want = m[1] === "unlimited" ? 1 << 20 : Number(m[1]);
  } catch (e) {
    assertOk(e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.NotFound, String(e));
  }
  assertEquals(withFdEnv(undefined, descriptorLimit), want);
  assertEquals(
    withFdEnv(undefined, () => connectionBudget()),
    connectionBudget(want),
    "the default is the process's",
  );
});

/** A connection for the gate: evicting it releases it, as server.ts's do. */
class Fake implements Evictable {
  evicted = false;
  constructor(
    readonly gate: ConnectionGate<Fake>,
    readonly source: string,
    readonly name: string,
  ) {}
  evict(): void {
    this.evicted = true;
    this.gate.release(this, true);
  }
}

function gateOf(max: number, perSource: number) {
  const gate = new ConnectionGate<Fake>(max, perSource);
  const admit = (source: string, name = source) => {
    const c = new Fake(gate, source, name);
    return { c, refusal: gate.admit(c) };
  };
  return { gate, admit };
}

Deno.test("limits: gate refuses over the per-source cap at once, other sources still come in", () => {
  const { gate, admit } = gateOf(100, 2);
  assertEquals(admit("a").refusal, undefined);
  assertEquals(admit("a").refusal, undefined);
  const third = admit("a");
  assertEquals(third.refusal, "per_source");
  assertEquals(gate.countOf("a"), 2, "the refused one was not counted");
  assertEquals(admit("b").refusal, undefined);
  assertEquals([gate.size, gate.countOf("b"), gate.countOf("zzz")], [3, 1, 0]);
  // The per-source cap comes first, even at the total cap: a refused source evicts nobody.
  const small = gateOf(2, 2);
  const a1 = small.admit("a"), a2 = small.admit("a");
  assertEquals(small.admit("a").refusal, "per_source");
  assertOk(!a1.c.evicted && !a2.c.evicted);
});

Deno.test("limits: at the total cap the biggest untrusted source gives up its oldest", () => {
  const { gate, admit } = gateOf(5, 10);
  const a1 = admit("a", "a1"), b1 = admit("b", "b1"), b2 = admit("b", "b2");
  const a2 = admit("a", "a2"), b3 = admit("b", "b3");
  assertEquals(gate.size, 5);
  // A newcomer from c: b holds the most (3): its oldest, b1, goes.
  const c1 = admit("c", "c1");
  assertEquals(c1.refusal, undefined);
  assertEquals([a1, b1, b2, a2, b3].map((x) => x.c.evicted), [false, true, false, false, false]);
  assertEquals([gate.size, gate.countOf("b"), gate.countOf("c")], [5, 2, 1]);
  // Now a and b tie at 2: a newcomer from b gives up its own oldest (b2).
  assertEquals(admit("b", "b4").refusal, undefined);
  assertOk(b2.c.evicted && !a1.c.evicted);
  // b has 2 (b3, b4), a 2, c 1; a newcomer from a: a's own oldest, a1.
  admit("a", "a3");
  assertOk(a1.c.evicted && !a2.c.evicted && !b3.c.evicted);
  assertEquals(gate.size, 5);
});

Deno.test("limits: a source that evicts its own oldest is counted once", () => {
  // At the total cap, a newcomer from the only source replaces that source's oldest, again
  // and again: the source still holds one connection and is never refused "per_source".
  const { gate, admit } = gateOf(1, 2);
  let last = admit("a");
  for (let i = 0; i < 5; i++) {
    const next = admit("a");
    assertEquals(next.refusal, undefined, `newcomer ${i}`);
    assertOk(last.c.evicted);
    assertEquals([gate.size, gate.countOf("a")], [1, 1], `after newcomer ${i}`);
    last = next;
  }
  gate.release(last.c, true);
  assertEquals([gate.size, gate.countOf("a")], [0, 0]);
});

Deno.test("limits: trusted connections are never evicted", () => {
  const { gate, admit } = gateOf(3, 10);
  const a1 = admit("a"), a2 = admit("a"), b1 = admit("b");
  gate.trust(a1.c);
  gate.trust(a2.c);
  // a holds more, but only b1 is untrusted.
  assertEquals(admit("c").refusal, undefined);
  assertOk(b1.c.evicted && !a1.c.evicted && !a2.c.evicted);
  // Trust everyone: a newcomer is refused ("total") and no one is evicted.
  const all = gateOf(2, 10);
  const x = all.admit("x"), y = all.admit("y");
  all.gate.trust(x.c);
  all.gate.trust(y.c);
  assertEquals(all.admit("z").refusal, "total");
  assertEquals(all.admit("x").refusal, "total");
  assertOk(!x.c.evicted && !y.c.evicted);
  assertEquals(all.gate.size, 2);
  // Trusting twice, or trusting a stranger, changes nothing.
  all.gate.trust(x.c);
  all.gate.trust(new Fake(all.gate, "q", "q"));
  assertEquals(all.gate.size, 2);
});

Deno.test("limits: release accounting", () => {
  const { gate, admit } = gateOf(3, 2);
  const a1 = admit("a"), a2 = admit("a"), b1 = admit("b");
  gate.release(a1.c, true);
  assertEquals([gate.size, gate.countOf("a")], [2, 1]);
  gate.release(a1.c, true); // a second release (close racing eviction) counts nothing
  assertEquals([gate.size, gate.countOf("a")], [2, 1]);
  gate.release(new Fake(gate, "a", "stranger"), true); // never admitted
  assertEquals([gate.size, gate.countOf("a")], [2, 1]);
  assertEquals(admit("a").refusal, undefined, "a1's slot is free again");
  const a4 = admit("a");
  assertEquals(a4.refusal, "per_source");
  gate.release(a4.c, false); // as server.ts does for a refused connection: nothing to count
  assertEquals([gate.size, gate.countOf("a")], [3, 2]);
  gate.release(a2.c, true);
  gate.release(b1.c, true);
  assertEquals([gate.size, gate.countOf("a"), gate.countOf("b")], [1, 1, 0]);
  // A released connection is no longer a candidate for eviction.
  const g2 = gateOf(2, 10);
  const p = g2.admit("p"), q = g2.admit("q");
  g2.gate.release(p.c, true);
  g2.admit("r");
  assertOk(!p.c.evicted && !q.c.evicted, "there was room");
  assertEquals(g2.admit("s").refusal, undefined);
  assertOk(q.c.evicted && !p.c.evicted, "the oldest held one went");
});

Deno.test("limits: an evictable that does not close makes the newcomer refused", () => {
  const gate = new ConnectionGate<Evictable>(1, 10);
  let asked = 0;
  const stuck = { source: "a", evict: () => void asked++ };
  assertEquals(gate.admit(stuck), undefined);
  assertEquals(gate.admit({ source: "b", evict() {} }), "total");
  assertEquals([asked, gate.size], [1, 1]);
});

Deno.test("limits: property: the gate against a model", () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant("admit" as const), source: fc.constantFrom("a", "b", "c", "d") }),
    fc.record({ kind: fc.constant("trust" as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant("release" as const), pick: fc.nat() }),
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 4 }),
      fc.array(op, { maxLength: 60 }),
      (max, perSource, ops) => {
        const gate = new ConnectionGate<Fake>(max, perSource);
        const held: Fake[] = []; // admission order
        const trusted = new Set<Fake>();
        let n = 0;
        for (const o of ops) {
          if (o.kind === "admit") {
            const c = new Fake(gate, o.source, `c${n++}`);
            const untrusted = held.filter((h) => !trusted.has(h));
            const bySource = new Map<string, Fake[]>();
            for (const h of untrusted) {
              bySource.set(h.source, [...(bySource.get(h.source) ?? []), h]);
            }
            const own = held.filter((h) => h.source === o.source).length;
            const before = [...held];
            const r = gate.admit(c);
            const gone = before.filter((h) => h.evicted);
            if (own >= perSource) {
              assertEquals([r, gone.length], ["per_source", 0]);
            } else if (before.length < max) {
              assertEquals([r, gone.length], [undefined, 0]);
            } else if (untrusted.length === 0) {
              assertEquals([r, gone.length], ["total", 0]);
            } else {
              assertEquals([r, gone.length], [undefined, 1]);
              const v = gone[0]!;
              assertOk(!trusted.has(v), "the victim was untrusted");
              const most = Math.max(...[...bySource.values()].map((s) => s.length));
              const its = bySource.get(v.source)!;
              assertEquals(its.length, most, "from a source holding the most untrusted");
              assertEquals(its[0], v, "its oldest untrusted");
              if ((bySource.get(o.source)?.length ?? 0) === most) {
                assertEquals(v.source, o.source, "on a tie, the newcomer's own");
              }
              held.splice(held.indexOf(v), 1);
            }
            if (r === undefined) held.push(c);
          } else if (held.length > 0) {
            const c = held[o.pick % held.length]!;
            if (o.kind === "trust") {
              gate.trust(c);
              trusted.add(c);
            } else {
              gate.release(c, true);
              held.splice(held.indexOf(c), 1);
              trusted.delete(c);
            }
          }
          assertEquals(gate.size, held.length);
          assertOk(gate.size <= max);
          for (const s of ["a", "b", "c", "d"]) {
            const count = held.filter((h) => h.source === s).length;
            assertEquals(gate.countOf(s), count);
            assertOk(count <= perSource);
          }
        }
      },
    ),
    { numRuns: 400 },
  );
});
