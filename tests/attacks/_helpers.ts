/**
 * Shared helpers of the attack tests: an in-process relay with a tap, a raw WebSocket client that
 * speaks bytes (no protocol logic), and a driver for an honest link handshake whose messages the
 * tests can capture, tamper with or replay.
 *
 * @module
 */
import net from "node:net";
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

  /**
   * Opens a socket (from `localAddress`, e.g. an attacker's 127.0.0.2); rejects with
   * UpgradeRefused when the server answers with an HTTP error.
   */
  static open(url: string, o: { localAddress?: string } = {}): Promise<RawClient> {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      handshakeTimeout: 5000,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    });
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

/**
 * The attacker's source address in these tests. The test task's --allow-net grants
 * 127.0.0.1, 127.0.0.2 and localhost only, and Deno checks a node:net `localAddress` against that
 * list, so 127.0.0.2 is the one address told apart from the legitimate clients on 127.0.0.1.
 */
export const ATTACKER = "127.0.0.2";

const LATIN1 = new TextDecoder("latin1");

/**
 * A raw TCP connection (node:net, so that it can connect from `localAddress`) that keeps the
 * first `keep` bytes it reads and records when it ended. Writes never throw: an attack goes on
 * writing into a socket the server may already have reset.
 */
export class TcpPeer {
  #buf: Uint8Array;
  #len = 0;
  #wakers = new Set<() => void>();
  /** When the connection was established (ms since the epoch). */
  readonly connectedAt = Date.now();
  /** When it closed, either side. */
  endedAt: number | undefined;
  /** The socket error, if one came (ECONNRESET, EPIPE…). */
  error: string | undefined;
  /** Resolves once the connection is closed. */
  readonly ended: Promise<void>;

  private constructor(readonly socket: net.Socket, keep: number) {
    this.#buf = new Uint8Array(keep);
    this.ended = new Promise((resolve) => {
      socket.once("close", () => {
        this.endedAt = Date.now();
        resolve();
        this.#wake();
      });
    });
    socket.on("data", (d: Uint8Array) => {
      const n = Math.min(d.length, this.#buf.length - this.#len);
      this.#buf.set(d.subarray(0, n), this.#len);
      this.#len += n;
      this.#wake();
    });
    socket.on("error", (e: Error) => (this.error = e.message));
  }

  /** Connects to 127.0.0.1:`port` from `localAddress`; rejects on error or after `timeoutMs`. */
  static connect(
    port: number,
    o: { localAddress?: string; timeoutMs?: number; keep?: number } = {},
  ): Promise<TcpPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect({
        host: "127.0.0.1",
        port,
        ...(o.localAddress ? { localAddress: o.localAddress } : {}),
      });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`connect timed out after ${o.timeoutMs ?? 5000} ms`));
      }, o.timeoutMs ?? 5000);
      s.once("error", (e: Error) => {
        clearTimeout(timer);
        reject(e);
      });
      s.once("connect", () => {
        clearTimeout(timer);
        resolve(new TcpPeer(s, o.keep ?? 4096));
      });
    });
  }

  #wake(): void {
    for (const w of this.#wakers) w();
  }

  /** The bytes read so far (at most `keep`). */
  get bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  /** The bytes read so far as latin1 text. */
  text(): string {
    return LATIN1.decode(this.bytes);
  }

  /** True once closed. */
  get isEnded(): boolean {
    return this.endedAt !== undefined;
  }

  /** Drops the first `n` bytes read. */
  skip(n: number): void {
    this.#buf.copyWithin(0, n, this.#len);
    this.#len -= n;
  }

  /** Waits until `cond()` holds (checked on every read and at the close), or rejects. */
  async until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    if (cond()) return;
    let wake!: () => void;
    const check = new Promise<void>((resolve) => {
      wake = () => {
        if (cond()) resolve();
      };
    });
    this.#wakers.add(wake);
    try {
      await within(check, what, timeoutMs);
    } finally {
      this.#wakers.delete(wake);
    }
  }

  /** Writes `bytes`; resolves true once they are handed to the kernel, false on an error. */
  write(bytes: Uint8Array): Promise<boolean> {
    if (this.socket.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => this.socket.write(bytes, (e) => resolve(!e)));
  }

  /** Closes the connection at once. */
  destroy(): void {
    this.socket.destroy();
  }
}

/** The bytes of a latin1 string. */
export function latin1Bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** An upgrade request head for `/` (a fixed key: the server does not care which). */
export function upgradeHead(port: number): string {
  return `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
    "Sec-WebSocket-Version: 13\r\n\r\n";
}

/**
 * A WebSocket opened by hand over a TcpPeer: the upgrade request is written and its 101 read;
 * what the peer reads afterwards are WebSocket frames (serverFrames). Rejects with
 * UpgradeRefused on another status.
 */
export async function rawWebSocket(
  port: number,
  o: { localAddress?: string; keep?: number } = {},
): Promise<TcpPeer> {
  const p = await TcpPeer.connect(port, o);
  await p.write(latin1Bytes(upgradeHead(port)));
  await p.until(() => p.text().includes("\r\n\r\n") || p.isEnded, "the upgrade response");
  const text = p.text();
  const end = text.indexOf("\r\n\r\n");
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  if (end < 0 || status !== 101) {
    p.destroy();
    throw new UpgradeRefused(status);
  }
  p.skip(end + 4);
  return p;
}

/**
 * A client frame header (FIN set, masked with `mask`) announcing `length` payload bytes: what
 * an attacker sends to claim a huge message without sending it.
 */
export function clientFrameHeader(
  opcode: number,
  length: number,
  mask: Uint8Array = Uint8Array.of(1, 2, 3, 4),
): Uint8Array {
  const ext = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const h = new Uint8Array(2 + ext + 4);
  const v = new DataView(h.buffer);
  h[0] = 0x80 | opcode;
  if (ext === 0) h[1] = 0x80 | length;
  else if (ext === 2) {
    h[1] = 0x80 | 126;
    v.setUint16(2, length);
  } else {
    h[1] = 0x80 | 127;
    v.setBigUint64(2, BigInt(length));
  }
  h.set(mask, 2 + ext);
  return h;
}

/** One frame from the server (servers do not mask). */
export interface ServerFrame {
  opcode: number;
  payload: Uint8Array;
}

/** The complete server frames in `bytes` (an incomplete last one is left out). */
export function serverFrames(bytes: Uint8Array): ServerFrame[] {
  const out: ServerFrame[] = [];
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let i = 0;
  while (i + 2 <= bytes.length) {
    let len = bytes[i + 1]! & 0x7f, head = 2;
    if (len === 126) {
      if (i + 4 > bytes.length) break;
      len = v.getUint16(i + 2);
      head = 4;
    } else if (len === 127) {
      if (i + 10 > bytes.length) break;
      len = Number(v.getBigUint64(i + 2));
      head = 10;
    }
    if (i + head + len > bytes.length) break;
    out.push({ opcode: bytes[i]! & 0x0f, payload: bytes.subarray(i + head, i + head + len) });
    i += head + len;
  }
  return out;
}

/** The close frame among `frames`, decoded; undefined if none came. */
export function closeFrameOf(frames: ServerFrame[]): CloseInfo | undefined {
  const f = frames.find((x) => x.opcode === 0x8);
  if (!f) return undefined;
  if (f.payload.length < 2) return { code: 1005, reason: "" };
  const code = (f.payload[0]! << 8) | f.payload[1]!;
  return { code, reason: new TextDecoder().decode(f.payload.subarray(2)) };
}

/** Reads a gauge or counter (`schied_<name>`) from a relay process's metrics listener. */
export async function scrapeProcess(metricsUrl: string, name: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const m = new RegExp(`^schied_${name} (\\d+)$`, "m").exec(text);
  if (!m) throw new Error(`No metric schied_${name}`);
  return Number(m[1]);
}

/** True while a relay process has not exited. */
export function aliveFlag(exited: Promise<unknown>): () => boolean {
  let alive = true;
  exited.then(() => (alive = false), () => (alive = false));
  return () => alive;
}
