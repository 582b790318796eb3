/**
 * An in-memory world for the delivery state machine: two daemons' stores and delivery engines
 * (no keystore, no relay process, no API), a fake relay that routes, drops or refuses envelopes
 * by rule, and a clock the test moves by hand.
 *
 * @module
 */
import { WorkBudget } from "../../daemon/budget.ts";
import { Contacts } from "../../daemon/contacts.ts";
import { openDb } from "../../daemon/db.ts";
import { Delivery, type RelayPort, type SendOutcome } from "../../daemon/delivery.ts";
import { Files, type FilesOptions } from "../../daemon/files.ts";
import { FileFlow } from "../../daemon/files_flow.ts";
import { Journal } from "../../daemon/journal.ts";
import type { Identity } from "../../daemon/keystore.ts";
import { Messages } from "../../daemon/messages.ts";
import { Outbox } from "../../daemon/outbox.ts";
import { Requests } from "../../daemon/requests.ts";
import { Sealer } from "../../daemon/sealer.ts";
import { Self } from "../../daemon/self.ts";
import { Serial } from "../../daemon/_serial.ts";
import { SessionManager } from "../../daemon/sessions.ts";
import { Store } from "../../daemon/store.ts";
import type { JournalEvent, RelayState } from "../../daemon/service.ts";
import { generateDh, randomSecret, signingKeyFromSeed } from "../../protocol/_crypto.ts";
import { signStatic } from "../../protocol/e2e_handshake.ts";
import { clientIdFromPublicKey, formatId } from "../../protocol/identity.ts";
import { waitFor } from "../harness.ts";

/** A manual clock. */
export class Clock {
  t = 1_700_000_000_000;
  now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** What the fake relay does with one SEND: route it, answer offline/rejected, or drop it. */
export type Verdict = "route" | "offline" | "rejected" | "drop";

/** One daemon of the world. */
export interface Side {
  id: Uint8Array;
  idText: string;
  store: Store;
  messages: Messages;
  outbox: Outbox;
  contacts: Contacts;
  sessions: SessionManager;
  delivery: Delivery;
  /** Files (a store under the side's temp dir). */
  files: FileFlow;
  events: JournalEvent[];
  errors: unknown[];
  /** Accepts an outgoing message as the engine does (commit, then index, then kick). */
  send(peer: Side, text: string): Promise<string>;
  /**
   * Accepts it as the engine's send does: sealed inside the accepting write when it can go at
   * once (Delivery.sealAccepted), else kicked. Resolves with its id and whether it was sealed so.
   */
  sendAccepting(peer: Side, text: string): Promise<{ id: string; sealed: boolean }>;
  /** The delivery engine's serial queue (a barrier: what was kicked before has run). */
  serial: Serial;
}

async function identity(): Promise<Identity> {
  const signing = await signingKeyFromSeed(randomSecret());
  const e2eKey = await generateDh();
  return {
    id: clientIdFromPublicKey(signing.publicKey),
    signing,
    linkKey: await generateDh(),
    e2eKey,
    vouch: await signStatic(signing, e2eKey.publicKey),
    created: new Date(0).toISOString(),
  };
}

/** The fake relay between the sides. */
export class FakeRelay {
  state: RelayState = "online";
  /** Decides each SEND (default: route). */
  rule: (from: Side, to: Side, envelope: Uint8Array, i: number) => Verdict = () => "route";
  readonly sides = new Map<string, Side>();
  /** Every SEND seen, in order. */
  readonly seen: { from: string; to: string; envelope: Uint8Array; verdict: Verdict }[] = [];
  /** SENDs a side's link takes unanswered (LinkClient.room); answers come a turn later. */
  linkRoom = 4500;
  /** SENDs made while a side's link had no room (a real link refuses them as busy). */
  readonly overflows: { from: string; kind: number }[] = [];
  readonly #inFlight = new Map<Side, number>();
  #n = 0;

  /** The RelayPort of one side. */
  port(from: Side): RelayPort {
    const inFlight = () => this.#inFlight.get(from) ?? 0;
    const state = () => this.state;
    const room = () => Math.max(0, this.linkRoom - inFlight());
    const send = async (to: Uint8Array, envelope: Uint8Array) => {
      if (room() === 0) {
        // A MSG (version 2) has no kind byte; it is recorded as kind 4, as in version 1.
        this.overflows.push({ from: from.idText, kind: envelope[0] === 2 ? 4 : envelope[1]! });
      }
      this.#inFlight.set(from, inFlight() + 1);
      const outcome = this.#route(from, to, envelope);
      await new Promise((r) => setTimeout(r, 0)); // the answer comes a turn later
      this.#inFlight.set(from, inFlight() - 1);
      return outcome;
    };
    return {
      get state() {
        return state();
      },
      get room() {
        return room();
      },
      send,
    };
  }

  #route(from: Side, to: Uint8Array, envelope: Uint8Array): Promise<SendOutcome> {
    const target = this.sides.get(formatId(to));
    const verdict = !target ? "offline" : this.rule(from, target, envelope, this.#n++);
    this.seen.push({ from: from.idText, to: formatId(to), envelope, verdict });
    if (verdict === "route") {
      // As the relay does: handed to the recipient's link, later read by it.
      setTimeout(() => target!.delivery.onDeliver(from.id, envelope), 0);
      return Promise.resolve({ status: "delivered" });
    }
    if (verdict === "drop") return Promise.resolve({ status: "delivered" }); // a lying relay
    return Promise.resolve({ status: verdict });
  }
}

/** Makes a side in a temp dir, wired to `relay` and `clock`. */
export async function makeSide(
  relay: FakeRelay,
  clock: Clock,
  limits: Partial<FilesOptions> = {},
): Promise<Side> {
  const dir = await Deno.makeTempDir({ prefix: "schied-delivery-" });
  const sealer = new Sealer(randomSecret());
  const store = new Store(openDb(dir, sealer), sealer);
  const self = new Self(await identity());
  const journal = new Journal(store, clock.now);
  const contacts = new Contacts(store, self, clock.now);
  const messages = new Messages(store, journal, self);
  const sessions = new SessionManager(store, self, clock.now);
  const outbox = new Outbox();
  const requests = new Requests({
    contacts,
    messages,
    sessions,
    outbox,
    myKey: () => self.identity.signing.publicKey,
  });
  const events: JournalEvent[] = [];
  const errors: unknown[] = [];
  journal.subscribe((e) => events.push(e));
  const fileOpts = { dir: `${dir}/files`, maxFileBytes: 1 << 30, quotaBytes: 1 << 30, ...limits };
  const files = new FileFlow(
    new Files(store, journal, self, contacts, clock.now, fileOpts),
    messages,
    outbox,
    store,
    clock.now,
  );
  const side = {
    id: self.id,
    idText: self.idText,
    store,
    messages,
    outbox,
    contacts,
    sessions,
    files,
    events,
    errors,
  } as Partial<Side> as Side;
  side.delivery = new Delivery({
    store,
    self,
    messages,
    outbox,
    contacts,
    sessions,
    requests,
    budget: new WorkBudget(clock.now),
    serial: side.serial = new Serial(),
    relay: () => relay.port(side),
    now: clock.now,
    files,
    onError: (_peer, e) => errors.push(e),
  });
  files.kick = (peer) => side.delivery.kick(peer);
  files.onError = (e) => errors.push(e);
  side.send = async (peer, text) => {
    const { m } = await store.write(() => {
      contacts.ensure(peer.idText);
      return messages.accept(peer.idText, text, undefined, clock.now());
    });
    outbox.add(m);
    side.delivery.kick(peer.idText);
    return m.id;
  };
  side.sendAccepting = async (peer, text) => {
    let sealed: ReturnType<Delivery["sealAccepted"]>;
    const { m } = await store.write(() => {
      sealed?.cancel(); // run again (store.ts): the first run's seal is void
      contacts.ensure(peer.idText);
      const accepted = messages.accept(peer.idText, text, undefined, clock.now());
      sealed = side.delivery.sealAccepted(accepted.m);
      return accepted;
    }).catch((e) => {
      sealed?.cancel();
      throw e;
    });
    const go = sealed as ReturnType<Delivery["sealAccepted"]>;
    outbox.add(m);
    if (go) go.go();
    else side.delivery.kick(peer.idText);
    return { id: m.id, sealed: go !== undefined };
  };
  relay.sides.set(side.idText, side);
  return side;
}

/** Two sides, each the other's contact. */
export async function pair(
  limits: Partial<FilesOptions> = {},
): Promise<{ a: Side; b: Side; relay: FakeRelay; clock: Clock }> {
  const relay = new FakeRelay();
  const clock = new Clock();
  const a = await makeSide(relay, clock, limits);
  const b = await makeSide(relay, clock, limits);
  await a.store.write(() => a.contacts.add(b.idText, null));
  await b.store.write(() => b.contacts.add(a.idText, null));
  return { a, b, relay, clock };
}

/** The texts `side` received from `from`, in stored order. */
export function received(side: Side, from: Side): string[] {
  return side.messages.list({ peer: from.idText, since: 0, sinceTs: 0, limit: 10_000, desc: false })
    .filter((m) => m.direction === "in")
    .map((m) => m.text);
}

/** Waits until every message id is `delivered` at the sender. */
export async function delivered(side: Side, ids: string[], what = "delivery"): Promise<void> {
  await waitFor(() => ids.every((id) => side.messages.get(id).status === "delivered"), what);
}
