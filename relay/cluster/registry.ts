/**
 * The registry of a cluster, in Redis: `schied:reg:<id hex>` → the identity key (hex), written
 * with `SET … NX`, so the first registration of an id wins across every node, atomically; a
 * counter `schied:reg:count` for metrics. Redis must persist it (AOF, README "Running several
 * relays"): an asynchronous failover can lose an acknowledged registration, and the id is then
 * registered again by its next login — by its own key only, since an id is the hash of its key.
 *
 * Entries never change once written, so lookups are cached in memory (bounded).
 *
 * @module
 */
import { constantTimeEqual, fromHex, toHex } from "../../protocol/bytes.ts";
import type { RegisterResult, RegistryEntry } from "../registry.ts";
import type { RegistryStore } from "../router.ts";
import { bounded, type RedisPair } from "./redis.ts";

/** Entries kept in memory; the cache is dropped whole past it (~100 bytes each: ≤ 10 MB). */
export const REGISTRY_CACHE_MAX = 100_000;
/** A registry command without an answer within this is an `internal` refusal of the login. */
export const REGISTRY_TIMEOUT_MS = 2000;

const KEY_RE = /^[0-9a-f]{64}$/;

/** The Redis-backed RegistryStore. */
export class RedisRegistry implements RegistryStore {
  readonly #r: RedisPair;
  readonly #cache = new Map<string, Uint8Array>();
  #count = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Uses `r`'s command connection; `count()` is refreshed every few seconds. */
  constructor(r: RedisPair) {
    this.#r = r;
    void this.#refreshCount();
    this.#timer = setInterval(() => void this.#refreshCount(), 5000);
  }

  async #refreshCount(): Promise<void> {
    try {
      this.#count = Number(await bounded(this.#r.cmd.get("schied:reg:count"), 1000, "count")) ||
        0;
    } catch {
      // metrics only: kept as it was
    }
  }

  #remember(k: string, key: Uint8Array): void {
    if (this.#cache.size >= REGISTRY_CACHE_MAX) this.#cache.clear();
    this.#cache.set(k, key);
  }

  /** The entry of `id`; rejects when Redis does not answer. */
  async lookup(id: Uint8Array): Promise<RegistryEntry | undefined> {
    const k = toHex(id);
    const hit = this.#cache.get(k);
    if (hit) return { id, publicKey: hit };
    // A login during a Redis restart waits for the reconnection rather than fail at once.
    await this.#r.waitReady(REGISTRY_TIMEOUT_MS);
    const v = await bounded(this.#r.cmd.get(`schied:reg:${k}`), REGISTRY_TIMEOUT_MS, "lookup");
    if (v === null) return undefined;
    if (typeof v !== "string" || !KEY_RE.test(v)) throw new Error(`Registry entry ${k} is damaged`);
    const publicKey = fromHex(v);
    this.#remember(k, publicKey);
    return { id, publicKey };
  }

  /** First wins: `new`, `known` (the same key was there), or `conflict`. */
  async register(id: Uint8Array, publicKey: Uint8Array): Promise<RegisterResult> {
    const k = toHex(id);
    await this.#r.waitReady(REGISTRY_TIMEOUT_MS);
    const set = await bounded(
      this.#r.cmd.set(`schied:reg:${k}`, toHex(publicKey), { NX: true }),
      REGISTRY_TIMEOUT_MS,
      "register",
    );
    if (set === "OK") {
      this.#remember(k, publicKey);
      this.#count++;
      void this.#r.cmd.incr("schied:reg:count").catch(() => {});
      return "new";
    }
    const row = await this.lookup(id);
    return row && constantTimeEqual(row.publicKey, publicKey) ? "known" : "conflict";
  }

  /** Registered ids, as last read. */
  count(): number {
    return this.#count;
  }

  /** Stops the refresh (the connection is the router's to close). */
  close(): void {
    clearInterval(this.#timer);
  }
}
