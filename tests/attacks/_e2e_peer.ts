/**
 * Helpers of the daemon attack tests: an end-to-end peer built from the protocol's primitives
 * over a raw relay link (LinkClient), so that a test can play an attacker or a minimal honest
 * peer without a daemon; an event collector that timestamps each event on arrival; the CPU time
 * of a process.
 *
 * @module
 */
import { type DhKeyPair, generateDh, type SigningKeyPair } from "../../protocol/_crypto.ts";
import { toBase64Url } from "../../protocol/bytes.ts";
import {
  E2EInitiator,
  type E2EKeys,
  E2EResponder,
  signStatic,
} from "../../protocol/e2e_handshake.ts";
import {
  type EnvelopeKind,
  isRatchetMessage,
  pad,
  parseEnvelope,
  unpad,
} from "../../protocol/envelope.ts";
import { clientIdFromPublicKey, formatId, parseId } from "../../protocol/identity.ts";
import { encodePayload, parsePayload, type Payload } from "../../protocol/payload.ts";
import { E2ESession } from "../../protocol/session.ts";
import { LinkClient, type SendResult } from "../../daemon/link_client.ts";
import type { JournalEvent } from "../../daemon/service.ts";
import type { ApiClient } from "../../api/mod.ts";
import { newKeys } from "../harness.ts";
import { within } from "./_helpers.ts";

/** One envelope a peer received. */
export interface Received {
  /** The sender's id text, as the relay named it. */
  from: string;
  /**
   * The envelope kind (`msg`: an end-to-end version 2 ratchet message), or undefined if it is
   * neither that nor a handshake (a schied/1 MSG included).
   */
  kind: EnvelopeKind | undefined;
  /** The handshake id, base64url ("" for a MSG: it carries no id in clear). */
  eid: string;
  envelope: Uint8Array;
  /** When it arrived (ms since the epoch). */
  at: number;
}

/** A message a peer opened. */
export interface Opened {
  from: string;
  seq: number;
  text: string;
  /** A group change carrier's statements (protocol/README.md, section 11.11). */
  gc?: string[];
}

interface PendingInitiator {
  hs: E2EInitiator;
  peer: string;
  resolve: (s: E2ESession) => void;
  reject: (e: unknown) => void;
}

/**
 * An end-to-end peer over one relay link, made of protocol primitives only: an identity, a
 * Noise static key with the identity's vouch, the hybrid XXhfs handshake (either side) and
 * Double Ratchet sessions (end-to-end version 2). It
 * keeps every envelope it receives. With `respond`, it also answers HS1s, finishes HS3s and
 * acknowledges the messages it opens, as an honest (if minimal) daemon would.
 */
export class E2EPeer {
  /** Every envelope received, in order. */
  readonly inbox: Received[] = [];
  /** The chat messages opened, in order (duplicates left out). */
  readonly opened: Opened[] = [];
  /** The highest acknowledgement received from each peer. */
  readonly acks = new Map<string, number>();
  /** Errors met while handling envelopes (a test may assert there are none). */
  readonly errors: unknown[] = [];
  readonly #sessions = new Map<string, E2ESession[]>(); // newest first
  readonly #initiators = new Map<string, PendingInitiator>();
  readonly #responders = new Map<string, E2EResponder>();
  readonly #sendSeq = new Map<string, number>();
  readonly #recvNext = new Map<string, number>();
  #chain: Promise<void> = Promise.resolve();
  #link!: LinkClient;

  /** This peer's identity key pair (to sign statements with, as a forger would). */
  identity!: SigningKeyPair;

  private constructor(readonly keys: E2EKeys, readonly respond: boolean) {}

  /** Logs in to the relay at `address` (from `localAddress`) with a fresh identity. */
  static async connect(
    address: string,
    o: { localAddress?: string; respond?: boolean } = {},
  ): Promise<E2EPeer> {
    const k = await newKeys();
    const staticKey: DhKeyPair = await generateDh();
    const vouch = await signStatic(k.identity, staticKey.publicKey);
    // The id is filled in from the WELCOME (the relay derives it from the identity key).
    const keys: E2EKeys = { id: new Uint8Array(16), staticKey, vouch };
    const peer = new E2EPeer(keys, o.respond ?? false);
    peer.identity = k.identity;
    peer.#link = await LinkClient.connect({
      address,
      ...k,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
      onDeliver: (from, env) => peer.#onDeliver(from, env),
    });
    keys.id = peer.#link.id;
    return peer;
  }

  /** The raw link. */
  get link(): LinkClient {
    return this.#link;
  }

  /** This peer's id text. */
  get id(): string {
    return formatId(this.keys.id);
  }

  /** Sends an envelope to `peer` (id text). */
  send(peer: string, envelope: Uint8Array): Promise<SendResult> {
    return this.#link.send(parseId(peer), envelope);
  }

  /** A first handshake message to `peer` with a fresh ephemeral key, not followed up. */
  async hs1(peer: string): Promise<{ envelope: Uint8Array; hid: string }> {
    const hs = new E2EInitiator(
      this.keys,
      parseId(peer),
      crypto.getRandomValues(new Uint8Array(8)),
    );
    return { envelope: await hs.start(), hid: toBase64Url(hs.hid) };
  }

  /** Runs the handshake with `peer` as the initiator; resolves with the session. */
  async handshake(peer: string, timeoutMs = 5000): Promise<E2ESession> {
    const hs = new E2EInitiator(
      this.keys,
      parseId(peer),
      crypto.getRandomValues(new Uint8Array(8)),
    );
    const done = Promise.withResolvers<E2ESession>();
    const hid = toBase64Url(hs.hid);
    this.#initiators.set(hid, { hs, peer, resolve: done.resolve, reject: done.reject });
    const r = await this.send(peer, await hs.start());
    if (r.status !== "delivered") throw new Error(`HS1 to ${peer} was ${r.status} (${r.code})`);
    try {
      return await within(done.promise, `the handshake with ${peer}`, timeoutMs);
    } finally {
      this.#initiators.delete(hid);
    }
  }

  /** The session messages to `peer` are sealed with (the newest), if any. */
  session(peer: string): E2ESession | undefined {
    return this.#sessions.get(peer)?.[0];
  }

  /**
   * Seals a chat message to `peer` with the next sequence number in the newest session. With
   * `giveUpEarlier`, its `floor` is its own number: the receiver waits for no earlier one (as a
   * daemon's sender says once it gave up on them).
   */
  async sealText(
    peer: string,
    text: string,
    giveUpEarlier = false,
    extra: Partial<Extract<Payload, { t: "m" }>> = {},
  ): Promise<Uint8Array> {
    const s = this.session(peer);
    if (!s) throw new Error(`No session with ${peer}`);
    const seq = (this.#sendSeq.get(peer) ?? 0) + 1;
    this.#sendSeq.set(peer, seq);
    const m = { t: "m" as const, id: crypto.randomUUID(), seq, ts: Date.now(), text, ...extra };
    const p = encodePayload(giveUpEarlier ? { ...m, floor: seq } : m);
    // Serialised with the handling of received envelopes: both advance the session.
    return await this.#serial(() => s.seal(pad(p), { now: Date.now() }));
  }

  /**
   * A MSG that only a holder of the session's keys can make, and that never opens: a copy of the
   * newest session with `peer` seals `ahead` throwaway messages and then one more, whose body is
   * then flipped. Its header authenticates at the peer (so the peer would derive `ahead` skipped
   * keys for it, or refuse the gap as too far), its body does not. This peer's own session is
   * left as it was.
   */
  async forgeAhead(peer: string, ahead: number): Promise<Uint8Array> {
    const s = this.session(peer);
    if (!s) throw new Error(`No session with ${peer}`);
    return await this.#serial(() => forgeAhead(s, ahead));
  }

  /** The envelopes received from `peer` of `kind`, from inbox index `since` on. */
  received(peer: string, kind: EnvelopeKind, since = 0): Received[] {
    return this.inbox.slice(since).filter((r) => r.from === peer && r.kind === kind);
  }

  /** Waits until every envelope received so far has been handled. */
  async idle(): Promise<void> {
    let c;
    do {
      c = this.#chain;
      await c;
    } while (c !== this.#chain);
  }

  /**
   * A barrier on this peer's link: a SEND to an id nobody holds is answered (RESULT offline)
   * after every DELIVER the relay queued for this peer before it, so once it is answered and
   * the inbox handled, an envelope sent to this peer earlier has arrived — or was never sent.
   */
  async flush(): Promise<void> {
    const nobody = formatId(clientIdFromPublicKey(crypto.getRandomValues(new Uint8Array(32))));
    const r = await this.send(nobody, (await this.hs1(nobody)).envelope);
    if (r.status !== "offline") throw new Error(`the barrier SEND was ${r.status} (${r.code})`);
    await this.idle();
  }

  /** Closes the link. */
  async close(): Promise<void> {
    if (!this.#link.isClosed) await this.#link.close();
  }

  /** Runs `fn` after everything queued on this peer's chain, and before what comes later. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn);
    this.#chain = run.then(() => {}, () => {});
    return run;
  }

  #onDeliver(from: Uint8Array, envelope: Uint8Array): void {
    let kind: EnvelopeKind | undefined, eid = "";
    if (isRatchetMessage(envelope)) kind = "msg";
    else {
      try {
        const env = parseEnvelope(envelope);
        if (env.kind !== "msg") { // a schied/1 MSG is nobody's to read here
          kind = env.kind;
          eid = toBase64Url(env.id);
        }
      } catch { /* kept as undefined */ }
    }
    const r: Received = {
      from: formatId(from),
      kind,
      eid,
      envelope: envelope.slice(),
      at: Date.now(),
    };
    this.inbox.push(r);
    this.#chain = this.#chain.then(() => this.#handle(r)).catch((e) => {
      this.errors.push(e);
    });
  }

  #install(peer: string, s: E2ESession): void {
    this.#sessions.set(peer, [s, ...(this.#sessions.get(peer) ?? [])].slice(0, 4));
  }

  async #handle(r: Received): Promise<void> {
    if (!r.kind) return;
    if (r.kind === "msg") return await this.#onMsg(r);
    const env = parseEnvelope(r.envelope);
    const peerId = parseId(r.from);
    switch (r.kind) {
      case "hs1": {
        if (!this.respond) return;
        const resp = new E2EResponder(this.keys, peerId, env.id);
        const reply = await resp.accept(env.body);
        this.#responders.set(r.from, resp);
        await this.send(r.from, reply);
        return;
      }
      case "hs2": {
        const mine = this.#initiators.get(r.eid);
        if (!mine || mine.peer !== r.from) return; // one of the untracked HS1s
        try {
          const { envelope, result } = await mine.hs.finish(env.body);
          this.#install(r.from, result.session);
          await this.send(r.from, envelope);
          mine.resolve(result.session);
        } catch (e) {
          mine.reject(e);
        }
        return;
      }
      case "hs3": {
        const resp = this.#responders.get(r.from);
        if (!resp || toBase64Url(resp.hid) !== r.eid) return;
        this.#responders.delete(r.from);
        this.#install(r.from, (await resp.finish(env.body)).session);
        return;
      }
    }
  }

  /**
   * A MSG: opened with the sender's sessions, newest first (it names none). One that none of
   * them authenticates is an error: the peers in these tests only write on sessions we hold.
   */
  async #onMsg(r: Received): Promise<void> {
    const sessions = this.#sessions.get(r.from) ?? [];
    let plain: Uint8Array | undefined;
    for (const s of sessions) {
      try {
        plain = await s.open(r.envelope, { now: Date.now() });
        break;
      } catch (e) {
        if ((e as { code?: string }).code !== "auth_failed") throw e;
      }
    }
    if (!plain) throw new Error(`A MSG from ${r.from} opened under none of our sessions`);
    const p = parsePayload(unpad(plain));
    if (p.t === "a") {
      this.acks.set(r.from, Math.max(this.acks.get(r.from) ?? 0, p.upto));
    } else if (p.t === "m") {
      const next = this.#recvNext.get(r.from) ?? 1;
      if (p.seq === next) {
        this.#recvNext.set(r.from, next + 1);
        this.opened.push({
          from: r.from,
          seq: p.seq,
          text: p.text,
          ...(p.gc ? { gc: p.gc } : {}),
        });
      }
      if (this.respond) {
        const upto = (this.#recvNext.get(r.from) ?? 1) - 1;
        const ack = await this.session(r.from)!.seal(
          pad(encodePayload({ t: "a", upto })),
          { now: Date.now() },
        );
        await this.send(r.from, ack);
      }
    }
  }
}

/**
 * A MSG of `session` that authenticates at its peer up to the header and then fails: a copy of
 * the session seals `ahead` throwaway messages, then one more whose body's last byte is flipped.
 * `session` itself is left as it was.
 */
export async function forgeAhead(session: E2ESession, ahead: number): Promise<Uint8Array> {
  const copy = E2ESession.parse(session.serialize());
  const deps = { now: Date.now() };
  const padded = pad(encodePayload({ t: "a", upto: 0 }));
  await copy.prepare(deps);
  for (let i = 0; i < ahead; i++) copy.sealSync(padded, deps);
  const env = copy.sealSync(padded, deps);
  env[env.length - 1]! ^= 0x01; // the body's tag
  return env;
}

/** A journal event and when the test saw it. */
export type SeenEvent = JournalEvent & { at: number };

/**
 * Streams a daemon's events (from `since`) into an array, each stamped with its arrival time,
 * until `stop()`.
 */
export function watchEvents(api: ApiClient, since = 0): { events: SeenEvent[]; stop: () => void } {
  const events: SeenEvent[] = [];
  const ac = new AbortController();
  (async () => {
    try {
      for await (const e of api.events({ since, signal: ac.signal })) {
        events.push({ ...e, at: Date.now() });
      }
    } catch {
      // stopped
    }
  })();
  return { events, stop: () => ac.abort() };
}

/** CPU seconds (user + system) a process has used, from /proc (via cat: see rssOf). */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const out = await new Deno.Command("cat", { args: [`/proc/${pid}/stat`] }).output();
  if (!out.success) throw new Error(`No process ${pid}`);
  const text = new TextDecoder().decode(out.stdout);
  // Fields after the command name (which may hold spaces): state is field 3; utime 14, stime 15.
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
}

/** The p-th percentile (0–100) of `xs`, nearest rank. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
