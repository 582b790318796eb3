/**
 * `schied chat <id|name>`: an interactive conversation like the original client: the last
 * messages with the peer, then incoming and outgoing lines interleaved, with delivery marks. On a
 * terminal it edits the input line itself (raw mode, _editor.ts) and draws incoming messages
 * above it. It outlives a daemon restart: typed lines wait in an outbox until the daemon takes
 * them. From a pipe it sends each line, and at end of input waits (bounded) for delivery.
 *
 * @module
 */
import { ApiError, type JournalEvent, type MessageRecord } from "../api/client.ts";
import { MAX_TEXT_BYTES } from "../protocol/constants.ts";
import { type ChatIo, openChatIo } from "./_chat_io.ts";
import { Outbox } from "./_chat_outbox.ts";
import { historyLine, lastMessages, resolvePeer } from "./_chat_peer.ts";
import { groupLine } from "./_chat_group.ts";
import { getGroup } from "./_group_api.ts";
import { connectApi, GLOBAL_HELP, parseVerb, printHelp, RECONNECT, withApi } from "./_context.ts";
import { intFlag } from "./_flags.ts";
import { clock, paint, peerLabel, useColor } from "./_format.ts";
import { CliError, escapeText, EXIT, usage } from "./_output.ts";
import { DaemonLink } from "./_reconnect.ts";
import { Backoff } from "../lib/backoff.ts";

/** Help of the verb. */
export const HELP = `Usage: schied chat <id|name> [--history N] [--wait SECONDS]

Chats with one peer: shows the last messages with it, then type a line and press Enter to send
it; incoming messages appear above the line you are typing. With a group (its name or id, see
'schied group'), each line goes to every member and their lines show with their names. Your lines end in "·" once the
daemon has accepted them; "✓✓ delivered #N" follows when the peer's daemon has stored message N.
A message from someone else shows as a one-line notice. The peer must be a contact (name or id)
or a well-formed id, else chat exits with code 4 before anything is sent.

If the daemon stops, chat says so on stderr, keeps the lines you type, and sends each once when
the daemon is back at the same address. On a terminal: Left/Right, Home/End (Ctrl-A/E),
Backspace, Delete, Ctrl-U/K/W (delete to the start, to the end, a word), Up/Down (history); a
paste may be up to 60,000 bytes and keeps its newlines. Ctrl-C clears the line, or quits at once
on an empty one; Ctrl-D on an empty line ends the chat. From a pipe, each line is a message.

  --history N      show the last N messages with the peer first (default 10; 0: none)
  --wait SECONDS   at the end, wait this long for delivery (default 10); exit code 5 if
                   something is still not delivered then, 3 if the daemon never took a line

${GLOBAL_HELP}`;

/** How often the peer's contact entry is read again (its name may change). */
const NAME_REFRESH_MS = 5000;

/** Runs the verb. */
export async function run(args: string[], env: (k: string) => string | undefined): Promise<number> {
  const { values, positionals } = parseVerb(args, {
    wait: { type: "string" },
    history: { type: "string" },
  });
  if (values.help) return printHelp(HELP);
  const [target, extra] = positionals;
  if (!target) throw usage("schied chat needs a peer: schied chat <id|name>");
  if (extra) throw usage(`schied chat takes one peer, got also "${extra}"`);
  const waitMs = (intFlag("wait", values.wait, 0, 3600) ?? 10) * 1000;
  const historyN = intFlag("history", values.history, 0, 1000) ?? 10;
  const api = await connectApi(values, env);
  const group = await withApi(() => getGroup(api, target)).catch(() => null);
  const { id: peer, contact } = group
    ? { id: group.id, contact: { name: group.name, verified: false } }
    : resolvePeer(target, await withApi(() => api.contacts()));
  const color = useColor(env);
  const since = (await withApi(() => api.status())).last_event_id;
  const label = peerLabel(peer, contact?.name);
  // A group's history is its messages, each with its sender; a peer's, the pair's own (its
  // group messages belong to their groups' chats).
  const keep = (m: MessageRecord) => group !== null || m.group === undefined;
  const history = await lastMessages(api, peer, historyN, since, keep).catch((e) => {
    if (e instanceof CliError && e.exit === EXIT.recipient_unknown) return [];
    throw e;
  });
  console.log(
    `chat with ${paint(color, 1, label)} (${peer})${contact?.verified ? " — verified" : ""}`,
  );
  for (const m of history) {
    console.log(historyLine(m, group ? peerLabel(m.peer, m.peer_name) : label, color));
  }
  const io = openChatIo(MAX_TEXT_BYTES);
  try {
    const chat = new Chat(io, new DaemonLink(api, values, env, (l) => io.note(l)), peer, color);
    chat.name = contact?.name ?? null;
    chat.group = group !== null;
    return await chat.run(since, waitMs);
  } finally {
    io.close();
  }
}

/** One chat session: the event stream, the outbox, the input, and what they print. */
class Chat {
  name: string | null = null;
  /** A group's chat: `peer` is the group id (_chat_group.ts). */
  group = false;
  readonly #status = new Map<string, { s: string; seq: number; reason?: string }>();
  readonly #mine = new Set<string>();
  readonly #stop = new AbortController();
  readonly #outbox: Outbox;
  #refused = 0;
  readonly #fatal = Promise.withResolvers<number>();

  constructor(
    readonly io: ChatIo,
    readonly link: DaemonLink,
    public peer: string,
    readonly color: boolean,
  ) {
    this.#outbox = new Outbox(link, peer, {
      accepted: (l, r) => {
        this.#mine.add(r.id);
        this.#say(`${this.#t(Date.now())} ${paint(color, 33, "me")}: ${escapeText(l.text)} ·`);
        const known = this.#status.get(r.id);
        if (known) this.#mark(r.id, known.s, known.seq, known.reason);
      },
      refused: (l, e) => {
        this.#refused = Math.max(this.#refused, exitOf(e));
        io.note(`schied: error: not sent: ${escapeText(e.message)}: "${preview(l.text)}"`);
        // An unknown peer refuses every line: the chat ends.
        if (exitOf(e) === EXIT.recipient_unknown) {
          io.note("schied: hint: check the id, or add a name with 'schied contacts add ID NAME'");
          this.#fatal.resolve(EXIT.recipient_unknown);
        }
      },
      // Lines wait visibly only while the daemon is away (else they are taken in a moment).
      changed: (n) => io.setPrompt(n > 0 && link.down ? `[${n} unsent] > ` : "> "),
    });
  }

  get #label(): string {
    return peerLabel(this.peer, this.name);
  }

  #t(ms: number): string {
    return paint(this.color, 2, clock(ms));
  }

  #say(line: string): void {
    this.io.print(line);
  }

  #mark(id: string, s: string, seq: number, reason?: string): void {
    if (!this.#mine.has(id)) return;
    if (s === "delivered") this.#say(paint(this.color, 32, `  ✓✓ delivered #${seq}`));
    else if (s === "failed") {
      this.#say(paint(this.color, 31, `  ✗ failed #${seq}: ${escapeText(String(reason))}`));
    }
  }

  #rename(name: string | null): void {
    if (name === this.name) return;
    const old = this.#label;
    this.name = name;
    this.#say(
      paint(this.color, 2, `  (${old} is now ${name ? escapeText(name) : "without a name"})`),
    );
  }

  #handle(e: JournalEvent): void {
    const c = this.color;
    const line = groupLine(e, this.peer, this.group, c, (ms) => this.#t(ms));
    if (line !== undefined) this.#say(line);
    else if ((e.type === "message" || e.type === "request") && e.data.from === this.peer) {
      if (e.type === "message" && e.data.from_name) this.#rename(e.data.from_name);
      this.#say(`${this.#t(e.data.ts)} ${paint(c, 36, this.#label)}: ${escapeText(e.data.text)}`);
    } else if (e.type === "message") {
      const who = peerLabel(e.data.from, e.data.from_name);
      const arg = e.data.from_name ? escapeText(e.data.from_name) : e.data.from;
      this.#say(paint(c, 2, `  (new message from ${who} — schied chat ${arg})`));
    } else if (e.type === "request") {
      const who = e.data.from.slice(0, 8);
      this.#say(paint(c, 2, `  (message request from ${who} — see 'schied requests')`));
    } else if (e.type === "status" && e.data.to === this.peer) {
      const d = e.data;
      this.#status.set(d.id, { s: d.status, seq: d.seq, reason: d.reason });
      this.#mark(d.id, d.status, d.seq, d.reason);
    } else if (e.type === "presence" && e.data.id === this.peer) {
      this.#say(paint(c, 2, `  ${this.#label} is ${e.data.online ? "online" : "offline"}`));
    } else if (e.type === "rotation" && e.data.old_id === this.peer) {
      // The peer moved to a new id (a statement signed by its old key): the chat follows.
      this.peer = e.data.new_id;
      this.#outbox.to = e.data.new_id;
      this.#say(paint(c, 33, `  (${escapeText(e.data.text)})`));
    } else if (e.type === "error" && e.data.peer === this.peer && e.data.code === "peer_version") {
      // "bob runs an older schied …" / "bob tried to reach you with an older schied …"
      this.#say(paint(c, 31, `  (${escapeText(e.data.message)})`));
    }
  }

  /** Follows the journal from `since`, across daemon restarts, until stopped. */
  async #follow(since: number): Promise<void> {
    const signal = this.#stop.signal;
    const backoff = new Backoff(RECONNECT);
    while (!signal.aborted) {
      try {
        for await (const e of this.link.api.events({ since, signal })) {
          since = e.id;
          backoff.reset();
          this.link.up();
          this.#handle(e);
        }
        if (!signal.aborted) this.link.lost(new ApiError("daemon_unreachable", 0, "stream ended"));
      } catch (e) {
        if (signal.aborted) break;
        this.link.lost(e);
      }
      await Promise.race([backoff.wait(signal), this.link.whenUp()]);
      if (!signal.aborted && this.link.down) await this.link.reconnect();
    }
  }

  async #refreshName(): Promise<void> {
    if (this.link.down || this.group) return;
    const contacts = await this.link.api.contacts().catch(() => undefined);
    const c = contacts?.find((x) => x.id === this.peer);
    if (contacts) this.#rename(c?.name ?? null);
  }

  /** Runs the chat; resolves with the exit code. */
  async run(since: number, waitMs: number): Promise<number> {
    const io = this.io;
    io.print("type a message and press Enter; Ctrl-D to quit");
    const following = this.#follow(since);
    const sending = this.#outbox.run(this.#stop.signal);
    const timer = setInterval(() => void this.#refreshName(), NAME_REFRESH_MS);
    try {
      const lines = io.lines();
      // Bounded by the input: each round takes one typed line.
      while (true) {
        const r = await Promise.race([lines.next(), this.#fatal.promise]);
        if (typeof r === "number") return this.#finish(r);
        if (r.done) break;
        this.#outbox.push(r.value);
      }
      if (io.interrupted) return this.#finish(EXIT.interrupted);
      io.close();
      const final = (id: string) => ["delivered", "failed"].includes(this.#status.get(id)?.s ?? "");
      const settled = () => this.#outbox.waiting.length === 0 && [...this.#mine].every(final);
      const end = Date.now() + waitMs;
      while (!settled() && Date.now() < end) {
        const fatal = await Promise.race([this.#fatal.promise, sleep(50)]);
        if (typeof fatal === "number") return this.#finish(fatal);
      }
      return this.#finish(EXIT.ok);
    } finally {
      clearInterval(timer);
      this.#stop.abort();
      await Promise.all([following, sending]);
    }
  }

  /** Reports what is not sent or not delivered; the exit code. */
  #finish(code: number): number {
    this.io.close();
    const unsent = this.#outbox.waiting;
    if (unsent.length > 0) {
      console.error(`schied: error: ${unsent.length} line(s) were never taken by the daemon:`);
      for (const l of unsent) console.error(`  ${escapeText(l.text)}`);
      console.error("schied: hint: start the daemon ('schied daemon') and send them again");
      return code === EXIT.ok ? EXIT.daemon_unreachable : code;
    }
    if (code !== EXIT.ok) return code;
    if (this.#refused) return this.#refused;
    const pending = [...this.#mine].filter((id) => this.#status.get(id)?.s !== "delivered").length;
    if (pending > 0) {
      console.error(`schied: error: ${pending} message(s) not delivered yet`);
      console.error(
        "schied: hint: they stay queued in the daemon and go out when the peer is reachable",
      );
      return EXIT.relay_offline;
    }
    return EXIT.ok;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function exitOf(e: Error): number {
  if (e instanceof ApiError && e.code === "recipient_unknown") return EXIT.recipient_unknown;
  return EXIT.error;
}

function preview(text: string): string {
  const t = escapeText(text);
  return t.length > 60 ? `${t.slice(0, 57)}…` : t;
}
