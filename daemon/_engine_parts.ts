/**
 * The engine's parts, wired to one another: the store, the journal, contacts, messages, sessions,
 * requests, delivery and recipients. Used only by engine.ts and its `_engine_*.ts` helpers.
 *
 * @module
 */
import { parseId } from "../protocol/identity.ts";
import { WorkBudget } from "./budget.ts";
import { Backlog } from "./_backlog.ts";
import { Contacts } from "./contacts.ts";
import { Delivery } from "./delivery.ts";
import { Files } from "./files.ts";
import { FileFlow } from "./files_flow.ts";
import type { EngineOptions } from "./engine.ts";
import { Journal } from "./journal.ts";
import { Messages } from "./messages.ts";
import { lookupPeerKey } from "./outgoing.ts";
import { Outbox } from "./outbox.ts";
import { Recipients } from "./recipients.ts";
import type { RelayClient } from "./relay_client.ts";
import { Requests } from "./requests.ts";
import { Self } from "./self.ts";
import { Serial } from "./_serial.ts";
import { SessionManager } from "./sessions.ts";
import { Store } from "./store.ts";

/** The engine's parts, as its helpers use them. */
export interface EngineParts {
  store: Store;
  serial: Serial;
  self: Self;
  journal: Journal;
  contacts: Contacts;
  messages: Messages;
  outbox: Outbox;
  sessions: SessionManager;
  requests: Requests;
  delivery: Delivery;
  /** Sends waiting for room to an online peer (backpressure). */
  backlog: Backlog;
  recipients: Recipients;
  /** Files sent and received; undefined without a file store (EngineOptions.files). */
  files: FileFlow | undefined;
  now: () => number;
  /** The relay connection, once start() made it. */
  relay: () => RelayClient | undefined;
  /** The configured relay address, if any. */
  relayAddress: () => string | undefined;
}

/** Wires the parts of an engine (the outbox is still empty). */
export function wireParts(
  o: EngineOptions,
  now: () => number,
  relay: () => RelayClient | undefined,
  relayAddress: () => string | undefined,
): EngineParts {
  const serial = new Serial();
  const outbox = new Outbox();
  const store = new Store(o.db, o.sealer, o.durable);
  const self = new Self(o.keys.current);
  const journal = new Journal(store, now, o.journalRetention);
  const error = (peer: string | null, e: unknown): void => {
    const code = (e as { code?: string }).code ?? "internal";
    void store.write(() => journal.append("error", { code, message: (e as Error).message, peer }))
      .catch(() => {});
  };
  const contacts = new Contacts(store, self, now);
  const messages = new Messages(store, journal, self);
  const sessions = new SessionManager(store, self, now);
  const requests = new Requests({
    contacts,
    messages,
    sessions,
    outbox,
    myKey: () => self.identity.signing.publicKey,
  });
  const files = o.files
    ? new FileFlow(
      new Files(store, journal, self, contacts, now, o.files),
      messages,
      outbox,
      store,
      now,
    )
    : undefined;
  const delivery = new Delivery({
    files,
    store,
    self,
    messages,
    outbox,
    contacts,
    sessions,
    requests,
    budget: new WorkBudget(now),
    // A macrotask after I/O, so that sockets (the API's /health among them) are served in
    // between (setImmediate: setTimeout(0) is clamped to milliseconds when nested).
    serial,
    relay,
    now,
    onError: (peer, e) => error(peer, e),
  });
  const backlog = new Backlog({
    outbox,
    delivering: (peer) => relay()?.state === "online" && delivery.online(peer) === true,
  });
  outbox.onLeft = (peer) => backlog.wake(peer);
  if (files) {
    files.kick = (peer) => delivery.kick(peer);
    files.onError = (e) => error(null, e);
  }
  const recipients = new Recipients({
    store,
    contacts,
    messages,
    outbox,
    lookup: (peer) => lookupPeerKey(relayAddress()!, peer),
    online: () => relayAddress() !== undefined && relay()?.state === "online",
    now,
    onFailed: (peer, _failed, dropped) => {
      if (dropped) relay()?.unwatch([parseId(peer)]);
    },
    onError: (peer, e) => error(peer, e),
  });
  return {
    store,
    serial,
    self,
    journal,
    contacts,
    messages,
    outbox,
    sessions,
    requests,
    delivery,
    backlog,
    recipients,
    files,
    now,
    relay,
    relayAddress,
  };
}
