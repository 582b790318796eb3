/**
 * Shared helpers of the attack tests: an in-process relay with a tap, a raw WebSocket client that
 * speaks bytes (no protocol logic), and a driver for an honest link handshake whose messages the
 * tests can capture, tamper with or replay.
 *
 * @module
 */
import WebSocket from "ws";
import type { LinkClient, LinkClosed } from "../../daemon/link_client.ts";
import { parseRelayAddress } from "../../protocol/address.ts";
import { generateDh, randomSecret, signingKeyFromSeed } from "../../protocol/_crypto.ts";
import { LinkInitiator, type LinkKeys } from "../../protocol/link_handshake.ts";
import { type Counter } from "../../relay/metrics.ts";
import { type RelayLimits, type RunningRelay, startRelay } from "../../relay/mod.ts";
import { waitFor } from "../harness.ts";

/** An in-process relay whose received WebSocket messages are all recorded. */
export interface TestRelay {
  relay: RunningRelay;
  address: string;
  /** The WebSocket URL (no key fragment). */
  url: string;
  /** The relay's static public key. */
  key: Uint8Array;
  /** Every WebSocket message the relay received, in order. */
  tapped: Uint8Array[];
  stateDir: string;
  counter(name: Counter): number;
  /** A gauge or counter as /metrics renders it (without the `schied_` prefix). */
  scrape(name: string): Promise<number>;
  close(): Promise<void>;
}

/** Starts an in-process relay on 127.0.0.1:0 in a temp dir (or `stateDir`). */
export async function startTestRelay(
  o: { limits?: Partial<RelayLimits>; openRegistration?: boolean; stateDir?: string } = {},
): Promise<TestRelay> {
  const stateDir = o.stateDir ?? await Deno.makeTempDir({ prefix: "schied-attack-" });
  const tapped: Uint8Array[] = [];
  const relay = await startRelay({
    port: 0,
    stateDir,
    quiet: true,
    openRegistration: o.openRegistration,
    limits: o.limits,
    metricsListen: { host: "127.0.0.1", port: 0 },
    fdBudget: 100_000,
    tap: (b) => tapped.push(b.slice()),
  });
  const { url, key } = parseRelayAddress(relay.address);
  return {
    relay,
    address: relay.address,
    url,
    key,
    tapped,
    stateDir,
    counter: (name) => relay.metrics.get(name),
    async scrape(name) {
      const text = await (await fetch(`http://${relay.metricsAddress}/metrics`)).text();
      const m = new RegExp(`^schied_${name} (\\d+)$`, "m").exec(text);
      if (!m) throw new Error(`No metric schied_${name}`);
      return Number(m[1]);
    },
    async close() {
      await relay.close();
      if (!o.stateDir) await Deno.remove(stateDir, { recursive: true });
    },
  };
}

/** Resolves like `p`, or rejects after `ms`: no test waits forever for an event. */
export async function within<T>(p: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** How a link client's link ended (within 5 s). */
export function linkEnd(link: LinkClient): Promise<LinkClosed> {
  return within(link.closed(), "the link to close");
}

/** How a socket ended. */
export interface CloseInfo {
  code: number;
  reason: string;
}

/** The HTTP status of a refused WebSocket upgrade. */
export class UpgradeRefused extends Error {
  constructor(readonly status: number) {
    super(`Upgrade refused with HTTP ${status}`);
  }
}

/** A WebSocket client that only moves bytes: every message received is kept. */
export class RawClient {
  readonly received: Uint8Array[] = [];
  readonly closed: Promise<CloseInfo>;
  #read = 0;
  #wake: (() => void) | undefined;
  #closeInfo: CloseInfo | undefined;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on("close", (code: number, reason: Buffer) => {
        this.#closeInfo = { code, reason: reason.toString() };
        this.#wake?.();
        resolve(this.#closeInfo);
      });
    });
    ws.on("message", (data: Buffer) => {
      this.received.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice());
      this.#wake?.();
    });
  }

  /** Opens a socket; rejects with UpgradeRefused when the server answers with an HTTP error. */
  static open(url: string): Promise<RawClient> {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 5000 });
    ws.binaryType = "nodebuffer";
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(new RawClient(ws)));
      ws.once("error", (e: Error) => {
        const m = /Unexpected server response: (\d+)/.exec(e.message);
        ws.once("close", () => reject(m ? new UpgradeRefused(Number(m[1])) : e));
        ws.terminate();
      });
    });
  }

  /** Sends bytes as one binary message. */
  send(bytes: Uint8Array): void {
    this.ws.send(bytes);
  }

  /** The next message not read yet; rejects if the socket closes first or after `timeoutMs`. */
  async next(timeoutMs = 5000): Promise<Uint8Array> {
    const end = Date.now() + timeoutMs;
    while (this.#read >= this.received.length) {
      if (this.#closeInfo) {
        throw new Error(`Socket closed (${this.#closeInfo.code} ${this.#closeInfo.reason})`);
      }
      const left = end - Date.now();
      if (left <= 0) throw new Error(`No message within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.#wake = r;
        timer = setTimeout(r, left);
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
    return this.received[this.#read++]!;
  }

  /** How the socket ended; rejects if it is still open after `timeoutMs`. */
  ended(timeoutMs = 5000): Promise<CloseInfo> {
    return within(this.closed, "the socket to close", timeoutMs);
  }

  /** Closes (if still open) and waits for the close. */
  async close(): Promise<CloseInfo> {
    if (!this.#closeInfo) this.ws.close(1000, "bye");
    return await this.ended();
  }
}

/** A fresh daemon identity and link key. */
export async function daemonKeys() {
  return { identity: await signingKeyFromSeed(randomSecret()), linkKey: await generateDh() };
}

/** The three messages of one honest handshake, and the keys it gave the daemon. */
export interface Transcript {
  msg1: Uint8Array;
  msg2: Uint8Array;
  msg3: Uint8Array;
  keys: LinkKeys;
}

/**
 * Runs an honest daemon handshake over `c` against the relay key `key`. With `sendMsg3: false`
 * message 3 is built but never sent (the relay never sees it).
 */
export async function honestHandshake(
  c: RawClient,
  key: Uint8Array,
  keys?: Awaited<ReturnType<typeof daemonKeys>>,
  sendMsg3 = true,
): Promise<Transcript> {
  const k = keys ?? await daemonKeys();
  const init = new LinkInitiator(key, k.linkKey, k.identity);
  const msg1 = await init.start();
  c.send(msg1);
  const msg2 = await c.next();
  const { msg3, keys: linkKeys } = await init.finish(msg2);
  if (sendMsg3) c.send(msg3);
  return { msg1, msg2, msg3, keys: linkKeys };
}

/** Flips one bit of a copy of `bytes`. */
export function flipBit(bytes: Uint8Array, byte: number, bit: number): Uint8Array {
  const out = bytes.slice();
  out[byte]! ^= 1 << bit;
  return out;
}

/** True if `needle` occurs in `hay` as a contiguous run of bytes. */
export function containsBytes(hay: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** Waits until the relay has no handshake in progress (all sockets of a test settled). */
export async function settled(r: TestRelay): Promise<void> {
  await waitFor(async () => (await r.scrape("handshakes_pending")) === 0, "no pending handshake");
}
