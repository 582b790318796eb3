/**
 * A relay and N real daemon processes, each the contact of every other (named a, b, c, …), for
 * the group end-to-end tests; `done()` stops exactly those processes.
 *
 * @module
 */
import { type DaemonProcess, startDaemonProcess, waitOnline } from "../daemon_harness.ts";
import { startRelayProcess, waitFor } from "../harness.ts";
import type { JournalEvent } from "../../daemon/service.ts";
import { getGroup } from "../../cmd/_group_api.ts";

/** N daemons and their relay. */
export interface Party {
  relay: { address: string; stop(): Promise<number> };
  ds: DaemonProcess[];
  done(): Promise<void>;
}

/** The names the daemons give each other: a, b, c, … */
export const NAMES = "abcdefgh".split("");

/** Starts a relay and `n` daemons, all online and all each other's named contacts. */
export async function party(n: number, extraEach = 0): Promise<Party> {
  const relay = await startRelayProcess();
  const ds: DaemonProcess[] = [];
  try {
    for (let i = 0; i < n + extraEach; i++) {
      ds.push(await startDaemonProcess({ relay: relay.address }));
    }
    await Promise.all(ds.map((d) => waitOnline(d)));
    for (const [i, d] of ds.entries()) {
      for (const [j, e] of ds.entries()) {
        if (i !== j) await d.api.addContact({ id: e.id, name: NAMES[j]! });
      }
    }
  } catch (e) {
    await Promise.all([...ds.map((d) => d.stop().catch(() => 0)), relay.stop()]);
    throw e;
  }
  return {
    relay,
    ds,
    async done() {
      const codes = await Promise.all([...ds.map((d) => d.stop()), relay.stop()]);
      if (codes.some((c) => c !== 0)) throw new Error(`a process exited with ${codes.join(", ")}`);
    },
  };
}

/** Waits until `d` holds group `id` at `epoch` (with that many members, when given). */
export async function waitEpoch(d: DaemonProcess, id: string, epoch: number): Promise<void> {
  await waitFor(
    async () => (await getGroup(d.api, id))?.epoch === epoch,
    `${d.id} at epoch ${epoch}`,
    20_000,
  );
}

/** The texts of the group messages `d` received in group `id` (from /messages). */
export async function groupTexts(d: DaemonProcess, id: string): Promise<string[]> {
  const ms = await d.api.messages({ limit: 1000 });
  return ms.filter((m) => m.group === id && m.direction === "in").map((m) => m.text);
}

/** The `error` events among `events` whose message includes `what`. */
export function errorsWith(events: JournalEvent[], what: string): JournalEvent[] {
  return events.filter((e) => e.type === "error" && e.data.message.includes(what));
}
