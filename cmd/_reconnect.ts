/**
 * A connection to the daemon that outlives the daemon: after a failure it says once that the
 * daemon is unreachable, re-reads the API address and token from the state dir (a restarted
 * daemon writes a new token, and maybe a new port), and says "reconnected" once the daemon
 * answers again. What `chat` and `listen` use.
 *
 * @module
 */
import { type ApiClient, ApiError } from "../api/client.ts";
import { API_ADDRESS_FILE } from "../daemon/state_dir.ts";
import { connectApi, stateDirOf } from "./_context.ts";
import { flagOrEnv } from "./_flags.ts";

/**
 * True for a failure that a running (or restarted) daemon would not give: nothing answers, the
 * token changed, the daemon is busy or answered something that is not the API.
 */
export function isTransient(e: unknown): boolean {
  if (!(e instanceof ApiError)) return false;
  return ["daemon_unreachable", "unauthorized", "busy", "bad_response", "internal"].includes(
    e.code,
  );
}

/** The daemon's API for a verb that keeps running across daemon restarts. */
export class DaemonLink {
  #api: ApiClient;
  #down = false;
  #forbidden = "";
  #reconnecting: Promise<boolean> | undefined;
  #back = Promise.withResolvers<void>();

  /**
   * Starts from a working client; `say` prints a notice (on stderr, above a prompt if any).
   * `values` and `env` are the verb's, to find the state dir and the --api flag again.
   */
  constructor(
    api: ApiClient,
    readonly values: Record<string, unknown>,
    readonly env: (k: string) => string | undefined,
    readonly say: (line: string) => void,
  ) {
    this.#api = api;
  }

  /** The client to use now. */
  get api(): ApiClient {
    return this.#api;
  }

  /** True between a failure and the reconnect. */
  get down(): boolean {
    return this.#down;
  }

  /** Notes a failure (prints "daemon unreachable" the first time). */
  lost(e: unknown, what = ""): void {
    if (this.#down) return;
    this.#down = true;
    this.#back = Promise.withResolvers<void>();
    const why = e instanceof ApiError && e.code !== "daemon_unreachable" ? ` (${e.message})` : "";
    this.say(`schied: daemon unreachable${why}, waiting…${what ? ` ${what}` : ""}`);
  }

  /** Notes a success (prints "reconnected" after a failure). */
  up(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#forbidden = "";
    this.say("schied: reconnected");
    this.#back.resolve();
  }

  /** Resolves at the next reconnect (at once when not down). */
  whenUp(): Promise<void> {
    return this.#down ? this.#back.promise : Promise.resolve();
  }

  /**
   * Looks up the daemon's address and token again and asks it for its status; true (and
   * "reconnected") when it answers. Calls at the same time share one attempt.
   */
  reconnect(): Promise<boolean> {
    this.#reconnecting ??= this.#attempt().finally(() => this.#reconnecting = undefined);
    return this.#reconnecting;
  }

  async #attempt(): Promise<boolean> {
    const fixed = flagOrEnv(this.values, "api", this.env);
    if (!fixed) {
      // A stopped daemon removes its address file; without it, nothing runs there yet.
      const file = `${stateDirOf(this.values, this.env)}/${API_ADDRESS_FILE}`;
      const url = await Deno.readTextFile(file).then((t) => t.trim(), () => "");
      if (!url) return false;
      const host = url.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
      if (!canReach(host)) {
        if (this.#forbidden !== host) {
          this.#forbidden = host;
          this.say(
            `schied: error: the daemon now listens on ${host}, which this process may not ` +
              "reach (the launcher allowed the address of the daemon it started with)",
          );
          this.say("schied: hint: run the daemon on its old port (--api), or restart this verb");
        }
        return false;
      }
    }
    try {
      const api = await connectApi(this.values, this.env);
      await api.status();
      this.#api = api;
      this.up();
      return true;
    } catch {
      return false;
    }
  }
}

/** True when this process may open a connection to `host` (HOST:PORT). */
function canReach(host: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "net", host }).state === "granted";
  } catch {
    return false;
  }
}
