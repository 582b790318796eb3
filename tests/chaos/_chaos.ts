/**
 * The chaos harness: a relay on a fixed port (so it can be killed and restarted at the same
 * address), two daemons, a bounded stream of messages with idempotency keys, and the checks
 * and figures every case reports: sent, delivered, lost, duplicated, longest recovery delay.
 *
 * @module
 */
import { assertEquals, assertOk } from "../_assert.ts";
import { ApiClient } from "../../api/mod.ts";
import type { MessageRecord } from "../../daemon/service.ts";
import { type RelayProcess, startRelayProcess, waitFor } from "../harness.ts";
import { type DaemonProcess, startDaemonProcess, waitOnline } from "../daemon_harness.ts";

/** A chaos scene: relay + daemons A and B, restartable. */
export class Scene {
  relay!: RelayProcess;
  a!: DaemonProcess;
  b!: DaemonProcess;
  port = 0;
  /** When each recovery happened (ms, performance.now()). */
  recoveries: number[] = [];
  /** When A reported each message delivered (message id → ms). */
  deliveredAt = new Map<string, number>();
  #watch: AbortController | undefined;

  /** Starts everything; B may start later (`startB: false`). */
  static async start(o: { startB?: boolean } = {}): Promise<Scene> {
    const s = new Scene();
    s.relay = await startRelayProcess({ args: ["--quiet"] });
    s.port = Number(new URL(s.relay.address).port);
    s.a = await startDaemonProcess({ relay: s.relay.address });
    s.b = await startDaemonProcess({ relay: s.relay.address });
    await Promise.all([waitOnline(s.a), waitOnline(s.b)]);
    // A and B are each other's contacts (a stranger's messages would be a message request).
    await s.a.api.addContact({ id: s.b.id });
    await s.b.api.addContact({ id: s.a.id });
    if (o.startB === false) await s.b.stop();
    s.watchA();
    return s;
  }

  /** Follows A's events (resuming after restarts) to time deliveries. */
  watchA(): void {
    this.#watch?.abort();
    const ac = this.#watch = new AbortController();
    const api = this.a.api;
    (async () => {
      let since = 0;
      while (!ac.signal.aborted) {
        try {
          for await (const e of api.events({ since, signal: ac.signal })) {
            since = e.id;
            if (e.type === "status" && e.data.status === "delivered") {
              this.deliveredAt.set(String(e.data.id), performance.now());
            }
          }
        } catch {
          if (!ac.signal.aborted) await new Promise((r) => setTimeout(r, 50));
        }
      }
    })();
  }

  /** kill -9 the relay and start it again at the same address. */
  async restartRelay(): Promise<void> {
    this.relay.kill("SIGKILL");
    await this.relay.exited;
    this.relay = await startRelayProcess({
      stateDir: this.relay.stateDir,
      port: this.port,
      args: ["--quiet"],
    });
    this.recoveries.push(performance.now());
  }

  /** kill -9 a daemon (or stop it) and start it again with the same state dir. */
  async restartDaemon(which: "a" | "b", kill = true): Promise<void> {
    const d = this[which];
    if (kill) d.kill("SIGKILL");
    else d.kill("SIGTERM");
    await d.exited;
    this[which] = await startDaemonProcess({ stateDir: d.stateDir });
    if (which === "a") this.watchA();
    await waitOnline(this[which]);
    this.recoveries.push(performance.now());
  }

  /** Stops everything. */
  async stop(): Promise<void> {
    this.#watch?.abort();
    await Promise.all([this.a.stop(), this.b.stop(), this.relay.stop()]);
  }
}

/**
 * Sends messages `from` → `to` with idempotency keys `${tag}-${i}`, `parallel` at a time,
 * retrying any that fail (daemon down) until accepted. `api()` is read at each try, so a
 * restarted daemon's new API is used. Calls `onAccepted(n)` after each 202.
 */
export async function sendStream(
  api: () => ApiClient,
  to: string,
  tag: string,
  n: number,
  o: {
    parallel?: number;
    onAccepted?: (count: number) => void | Promise<void>;
    deadlineMs?: number;
  } = {},
): Promise<void> {
  let next = 0;
  let accepted = 0;
  const deadline = Date.now() + (o.deadlineMs ?? 60_000);
  const worker = async () => {
    while (next < n) {
      const i = next++;
      while (true) {
        if (Date.now() > deadline) throw new Error(`sending ${tag}-${i} timed out`);
        try {
          await api().send({ to, text: `${tag} ${i}`, id: `${tag}-${i}` });
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      await o.onAccepted?.(++accepted);
    }
  };
  await Promise.all(Array.from({ length: o.parallel ?? 16 }, worker));
}

async function allMessages(api: ApiClient, peer: string): Promise<MessageRecord[]> {
  const out: MessageRecord[] = [];
  for (let since = 0;;) {
    const page = await api.messages({ with: peer, since, limit: 1000 });
    if (page.length === 0) return out;
    out.push(...page);
    since = page[page.length - 1]!.event_id;
  }
}

/** The figures of one direction. */
export interface Figures {
  sent: number;
  delivered: number;
  lost: number;
  duplicated: number;
}

/**
 * Waits until `from` has delivered every message with `tag`, then checks `to`'s journal: each
 * exactly once, in `from`'s order. Returns the figures.
 */
export async function verify(
  from: () => DaemonProcess,
  to: () => DaemonProcess,
  tag: string,
  n: number,
  timeoutMs = 90_000,
): Promise<Figures> {
  await waitFor(
    async () => {
      try {
        const s = await from().api.status();
        return s.outbox.size === 0;
      } catch {
        return false;
      }
    },
    `${tag}: the outbox to drain`,
    timeoutMs,
  );
  const out = (await allMessages(from().api, to().id)).filter((m) =>
    m.direction === "out" && m.text.startsWith(`${tag} `)
  )
    .sort((x, y) => x.seq - y.seq);
  const inc = (await allMessages(to().api, from().id)).filter((m) =>
    m.direction === "in" && m.text.startsWith(`${tag} `)
  );
  const texts = new Map<string, number>();
  for (const m of inc) texts.set(m.text, (texts.get(m.text) ?? 0) + 1);
  const fig: Figures = {
    sent: out.length,
    delivered: out.filter((m) => m.status === "delivered").length,
    lost: Array.from({ length: n }, (_, i) => `${tag} ${i}`).filter((t) => !texts.has(t)).length,
    duplicated: [...texts.values()].reduce((a, c) => a + c - 1, 0),
  };
  assertEquals(fig.sent, n, `${tag}: every message accepted once`);
  assertEquals(fig.delivered, n, `${tag}: every message delivered`);
  assertEquals(fig.lost, 0, `${tag}: none lost`);
  assertEquals(fig.duplicated, 0, `${tag}: none duplicated`);
  assertEquals(inc.map((m) => m.text), out.map((m) => m.text), `${tag}: in the sender's order`);
  assertOk(
    inc.every((m, i) => i === 0 || m.seq === inc[i - 1]!.seq + 1),
    `${tag}: consecutive sequence numbers`,
  );
  return fig;
}

/** The longest time from a recovery to the next delivery after it (ms), or 0. */
export function longestRecovery(scene: Scene): number {
  const times = [...scene.deliveredAt.values()].sort((a, b) => a - b);
  let worst = 0;
  for (const r of scene.recoveries) {
    const next = times.find((t) => t >= r);
    if (next !== undefined) worst = Math.max(worst, next - r);
  }
  return Math.round(worst);
}

/** Prints a case's figures. */
export function report(name: string, figs: Figures[], scene: Scene, started: number): void {
  const f = figs.reduce((a, b) => ({
    sent: a.sent + b.sent,
    delivered: a.delivered + b.delivered,
    lost: a.lost + b.lost,
    duplicated: a.duplicated + b.duplicated,
  }));
  console.log(
    `chaos ${name}: sent ${f.sent}, delivered ${f.delivered}, lost ${f.lost}, duplicated ${f.duplicated}, ` +
      `recoveries ${scene.recoveries.length}, longest recovery→delivery ${
        longestRecovery(scene)
      } ms, ` +
      `total ${Math.round(performance.now() - started)} ms`,
  );
}
