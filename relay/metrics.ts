/**
 * Relay metrics: counters and gauges only, never an id, an IP or any content. Rendered in the
 * Prometheus text format at `/metrics`.
 *
 * @module
 */

/** Every counter the relay keeps. */
export const COUNTERS = {
  handshakes_started_total: "Link handshakes started",
  handshakes_failed_total: "Link handshakes that failed (any cause)",
  logins_total: "Successful logins",
  registrations_total: "New ids registered",
  sessions_replaced_total: "Sessions closed because the same id logged in again",
  frames_received_total: "Frames received from daemons",
  envelopes_delivered_total: "Envelopes handed to the recipient's session",
  envelopes_offline_total: "Envelopes whose recipient was offline",
  envelopes_rejected_total: "Envelopes rejected (too large, or the recipient's queue full)",
  envelopes_busy_total: "Envelopes refused because the recipient's queue was full",
  slow_readers_total: "Sessions closed because they stopped reading",
  envelope_bytes_total: "Envelope bytes forwarded",
  records_received_total: "Encrypted link records received",
  records_sent_total: "Encrypted link records sent",
  limit_hits_total: "Times a limit refused or closed something",
  link_errors_total: "Links closed on a protocol error",
  cluster_frames_sent_total: "Envelopes sent to another node's inbox (cluster)",
  cluster_frames_received_total: "Envelopes received from other nodes (cluster)",
  cluster_frames_dropped_total: "Envelopes from other nodes whose recipient was gone or full here",
  cluster_frames_refused_total:
    "Cross-node SENDs refused busy: too many envelope bytes waiting for Redis",
  cluster_resubscribes_total: "Times this node subscribed again after its inbox ping was lost",
  cluster_redis_errors_total: "Redis commands of the cluster that failed or timed out",
} as const;

/** A counter name. */
export type Counter = keyof typeof COUNTERS;

/** Counters plus gauges read at render time. */
export class Metrics {
  readonly #c = new Map<Counter, number>();

  /** Adds `n` to a counter. */
  inc(name: Counter, n = 1): void {
    this.#c.set(name, (this.#c.get(name) ?? 0) + n);
  }

  /** Reads a counter. */
  get(name: Counter): number {
    return this.#c.get(name) ?? 0;
  }

  /** Renders the Prometheus text exposition format. */
  render(gauges: Record<string, [help: string, value: number]>): string {
    const lines: string[] = [];
    for (const [name, help] of Object.entries(COUNTERS)) {
      lines.push(`# HELP schied_${name} ${help}`, `# TYPE schied_${name} counter`);
      lines.push(`schied_${name} ${this.get(name as Counter)}`);
    }
    for (const [name, [help, v]] of Object.entries(gauges)) {
      lines.push(
        `# HELP schied_${name} ${help}`,
        `# TYPE schied_${name} gauge`,
        `schied_${name} ${v}`,
      );
    }
    return lines.join("\n") + "\n";
  }
}
