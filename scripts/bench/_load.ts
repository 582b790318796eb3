/**
 * The workload of the relay benchmark, the same for every server: pairs of clients that send
 * each other timestamped payloads, with a bounded window of envelopes in flight per direction.
 * In flight means sent but not yet received by the partner, so the window closes on delivery,
 * not on any server acknowledgement. Every phase is bounded by a message count and a deadline.
 *
 * Latency is end to end: the sender writes `performance.now()` into the payload and the receiver
 * subtracts it from its own clock. Both ends live in this one process, so they share the clock.
 *
 * @module
 */
import type { BenchClient } from "./_servers.ts";

/** A connected client whose receive handler each phase can replace. */
export interface Peer {
  /** The connection. */
  client: BenchClient;
  /** Called with every payload delivered to this client. */
  onPayload: (payload: Uint8Array) => void;
}

/** What one phase measured. */
export interface PhaseResult {
  /** Envelopes received by partners. */
  received: number;
  /** Envelopes the phase meant to deliver. */
  expected: number;
  /** Wall time from the first send to the last receipt, in seconds. */
  seconds: number;
  /** Envelopes received per second. */
  perSecond: number;
  /** Payload megabytes (10^6) received per second. */
  mbPerSecond: number;
  /** End-to-end latency percentiles, in ms. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Envelopes that arrived out of order or that the server refused. */
  errors: number;
  /** Envelopes of an earlier phase that arrived during this one (ignored). */
  strays: number;
  /** True if the deadline stopped the phase before every envelope arrived. */
  timedOut: boolean;
}

/** Nearest-rank percentile `q` (0..1) of an ascending array. */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

let phaseCounter = 0;

interface Flow {
  phase: number;
  from: Peer;
  to: Peer;
  buf: Uint8Array;
  view: DataView;
  sent: number;
  received: number;
}

function flow(from: Peer, to: Peer, size: number): Flow {
  const buf = new Uint8Array(size);
  const view = new DataView(buf.buffer);
  view.setUint32(12, phaseCounter, true);
  return { phase: phaseCounter, from, to, buf, view, sent: 0, received: 0 };
}

/**
 * Payload: send time (f64) ‖ sequence number in the flow (u32) ‖ phase (u32) ‖ zeros. Both
 * clients copy the payload before `send` returns, so one buffer per flow is reused.
 */
function sendOne(f: Flow): void {
  f.view.setFloat64(0, performance.now(), true);
  f.view.setUint32(8, f.sent, true);
  f.from.client.send(f.to.client.id, f.buf);
  f.sent++;
}

/**
 * Runs one phase: `start` sends the first envelopes, `onReceived` reacts to each receipt while
 * the phase is measuring. After the last expected receipt (or the deadline) nothing more is
 * sent, and the phase waits (bounded) for envelopes still on the way, so none spills over.
 */
async function measure(
  flows: Flow[],
  expected: number,
  size: number,
  deadlineMs: number,
  start: () => void,
  onReceived: (f: Flow) => void,
): Promise<PhaseResult> {
  const lat = new Float64Array(expected);
  let n = 0;
  let errors = 0;
  let strays = 0;
  let last = 0;
  let measuring = true;
  const done = Promise.withResolvers<boolean>();
  for (const f of flows) {
    f.to.onPayload = (p) => {
      const now = performance.now();
      const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
      if (p.length < 16 || v.getUint32(12, true) !== f.phase) return void strays++;
      if (v.getUint32(8, true) !== f.received) errors++;
      f.received++;
      if (!measuring) return;
      lat[n++] = now - v.getFloat64(0, true);
      last = now;
      if (n >= expected) {
        measuring = false;
        done.resolve(false);
      } else onReceived(f);
    };
  }
  const failuresBefore = flows.reduce((s, f) => s + f.from.client.failures, 0);
  const timer = setTimeout(() => done.resolve(true), deadlineMs);
  const t0 = performance.now();
  start();
  const timedOut = await done.promise;
  measuring = false;
  clearTimeout(timer);
  const drainEnd = performance.now() + 10_000;
  while (flows.some((f) => f.received < f.sent) && performance.now() < drainEnd) {
    await new Promise((r) => setTimeout(r, 10));
  }
  for (const f of flows) f.to.onPayload = () => void strays++;
  errors += flows.reduce((s, f) => s + f.from.client.failures, 0) - failuresBefore;
  const seconds = ((n > 0 ? last : performance.now()) - t0) / 1000;
  const sorted = lat.subarray(0, n).sort();
  return {
    received: n,
    expected,
    seconds,
    perSecond: n / seconds,
    mbPerSecond: (n * size) / seconds / 1e6,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: n > 0 ? sorted[n - 1]! : NaN,
    errors,
    strays,
    timedOut,
  };
}

/** Options of the load phase. */
export interface LoadOptions {
  /** Envelopes each sender sends. */
  messages: number;
  /** Payload size in bytes (at least 16: timestamp, sequence number, phase). */
  size: number;
  /** Envelopes in flight per direction. */
  window: number;
  /** Hard limit of the phase, in ms. */
  deadlineMs: number;
}

/**
 * Load phase: every pair sends `messages` envelopes each way at once, each direction keeping
 * `window` envelopes in flight. Returns throughput and latency under load.
 */
export function runLoad(pairs: [Peer, Peer][], o: LoadOptions): Promise<PhaseResult> {
  phaseCounter++;
  const flows = pairs.flatMap(([a, b]) => [flow(a, b, o.size), flow(b, a, o.size)]);
  const pump = (f: Flow) => {
    while (f.sent < o.messages && f.sent - f.received < o.window) sendOne(f);
  };
  const start = () => flows.forEach(pump);
  return measure(flows, flows.length * o.messages, o.size, o.deadlineMs, start, pump);
}

/**
 * Idle phase: one pair plays ping-pong with `count` envelopes, one in flight at a time, so each
 * latency is that of an otherwise idle server.
 */
export function runIdle(
  pair: [Peer, Peer],
  count: number,
  size: number,
  deadlineMs: number,
): Promise<PhaseResult> {
  phaseCounter++;
  const ab = flow(pair[0], pair[1], size);
  const ba = flow(pair[1], pair[0], size);
  const pong = (f: Flow) => sendOne(f === ab ? ba : ab);
  return measure([ab, ba], count, size, deadlineMs, () => sendOne(ab), pong);
}

/** Waits (bounded) until no client has a send the server has not answered. */
export async function settle(peers: Peer[], timeoutMs: number): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (peers.some((p) => p.client.unanswered > 0)) {
    if (performance.now() > end) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}
