/**
 * Time-bounded relay workloads over connected client pairs, the same for every server (bare
 * forwarder, schied relay, Python seed relay). Each pair is two flows, one per direction.
 *
 * - closedLoop: each flow keeps `window` envelopes in flight, where in flight means sent and
 *   not yet received by the partner (the window closes on delivery, never on a server's answer).
 *   A daemon has one or a few messages in flight per link; that is the shape measured.
 * - openLoop: `rate` envelopes per second in total, spread round-robin over the flows, sent on
 *   a ~1 ms tick whatever comes back (a late tick sends what is due at once).
 *
 * Latency is end to end: the payload carries `performance.now()` at send, the receiver (in this
 * same process, so on the same clock) subtracts it. After the time is up nothing more is sent
 * and the phase waits (bounded) for envelopes on the way, so none spills into the next phase.
 *
 * @module
 */
import type { Peer } from "./_load.ts";
import { latencies } from "./_stats.ts";

/** What one phase measured. */
export interface FlowResult {
  /** Envelopes received by partners within the phase (open loop: of those sent in it). */
  received: number;
  /** Envelopes sent. */
  sent: number;
  /** Measured seconds. */
  seconds: number;
  /** received / seconds. */
  perSecond: number;
  /** End-to-end latency, ms. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Out-of-order receipts plus sends the server refused (schied RESULT not delivered). */
  errors: number;
  /** Sent in the phase but not received by the end of the drain. */
  lost: number;
  /** Largest gap between two ticks of the open-loop sender, ms (generator stalls). */
  maxTickGapMs: number;
}

let phaseCounter = 1 << 20; // apart from _load.ts's phases

interface Flow {
  phase: number;
  from: Peer;
  to: Peer;
  buf: Uint8Array;
  view: DataView;
  sent: number;
  received: number;
}

function flows(pairs: readonly [Peer, Peer][], size: number): Flow[] {
  const phase = ++phaseCounter;
  return pairs.flatMap(([a, b]) =>
    [[a, b], [b, a]].map(([from, to]) => {
      const buf = new Uint8Array(size);
      const view = new DataView(buf.buffer);
      view.setUint32(12, phase, true);
      return { phase, from: from!, to: to!, buf, view, sent: 0, received: 0 };
    })
  );
}

/** Payload: send time (f64) ‖ sequence number in the flow (u32) ‖ phase (u32) ‖ zeros. */
function sendOne(f: Flow): void {
  f.view.setFloat64(0, performance.now(), true);
  f.view.setUint32(8, f.sent, true);
  f.from.client.send(f.to.client.id, f.buf);
  f.sent++;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function run(
  fs: Flow[],
  seconds: number,
  counts: (now: number, end: number) => boolean,
  onReceived: (f: Flow) => void,
  drive: (end: number) => Promise<number>,
): Promise<FlowResult> {
  const lat: number[] = [];
  let errors = 0;
  let strays = 0;
  for (const f of fs) {
    f.to.onPayload = (p) => {
      const now = performance.now();
      const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
      if (p.length < 16 || v.getUint32(12, true) !== f.phase) return void strays++;
      if (v.getUint32(8, true) !== f.received) errors++;
      f.received++;
      if (counts(now, end)) lat.push(now - v.getFloat64(0, true));
      onReceived(f);
    };
  }
  const failures0 = fs.reduce((s, f) => s + f.from.client.failures, 0);
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const maxTickGapMs = await drive(end);
  const measured = (Math.min(performance.now(), end) - t0) / 1000;
  const drainEnd = performance.now() + 5_000;
  while (fs.some((f) => f.received < f.sent) && performance.now() < drainEnd) await sleep(5);
  for (const f of fs) f.to.onPayload = () => void strays++;
  errors += fs.reduce((s, f) => s + f.from.client.failures, 0) - failures0;
  const sent = fs.reduce((s, f) => s + f.sent, 0);
  const got = fs.reduce((s, f) => s + f.received, 0);
  const l = latencies(Float64Array.from(lat));
  return {
    received: lat.length,
    sent,
    seconds: measured,
    perSecond: lat.length / measured,
    p50Ms: l.p50,
    p99Ms: l.p99,
    maxMs: l.max,
    errors,
    lost: sent - got,
    maxTickGapMs,
  };
}

/** Closed loop for `seconds`: every flow keeps `window` envelopes of `size` bytes in flight. */
export function closedLoop(
  pairs: readonly [Peer, Peer][],
  o: { size: number; window: number; seconds: number },
): Promise<FlowResult> {
  const fs = flows(pairs, o.size);
  let running = true;
  const pump = (f: Flow) => {
    while (running && f.sent - f.received < o.window) sendOne(f);
  };
  return run(fs, o.seconds, (now, end) => now <= end, (f) => running && pump(f), async (end) => {
    fs.forEach(pump);
    await sleep(end - performance.now());
    running = false;
    return 0;
  });
}

/** Open loop for `seconds`: `rate` envelopes of `size` bytes per second over all flows. */
export function openLoop(
  pairs: readonly [Peer, Peer][],
  o: { size: number; rate: number; seconds: number },
): Promise<FlowResult> {
  const fs = flows(pairs, o.size);
  return run(fs, o.seconds, () => true, () => {}, async (end) => {
    const t0 = performance.now();
    const total = Math.round(o.rate * o.seconds);
    let sent = 0;
    let last = t0;
    let gap = 0;
    while (sent < total) {
      const now = performance.now();
      gap = Math.max(gap, now - last);
      last = now;
      const due = now >= end ? total : Math.min(total, Math.floor((o.rate * (now - t0)) / 1000));
      for (; sent < due; sent++) sendOne(fs[sent % fs.length]!);
      if (sent < total) await sleep(1);
    }
    return gap;
  });
}
