/**
 * The login rules of a relay link (protocol/README.md, section 9.1), in order, once the link
 * handshake authenticated the daemon. The registry may answer later (a cluster's is in Redis):
 * the link may close meanwhile (`pending` turns false), and the slot check runs again after it.
 *
 * @module
 */
import { constantTimeEqual } from "../protocol/bytes.ts";
import type { LinkLogin } from "../protocol/link_handshake.ts";
import { idKey } from "./hub.ts";
import type { RelayContext } from "./_link_context.ts";
import type { RelayLink } from "./link.ts";

/** What the rules need of the link that logs in. */
export interface LoginSteps {
  ctx: RelayContext;
  link: RelayLink;
  /** True while the link still waits for the login's outcome. */
  pending(): boolean;
  /** The session of this node for `key`, if it is a link of this relay. */
  sessionOf(key: string): RelayLink | undefined;
  /** Refuses with `server_busy` (the limit's kind is counted). */
  busy(kind: string): void;
  /** Refuses with `internal` (the registry failed). */
  internal(e: unknown): void;
  /** Refuses as every failed handshake is refused. */
  authFail(): void;
  /** Opens the session. */
  open(registered: boolean): void;
}

/** Runs the login rules for `login`. */
export async function runLogin(s: LoginSteps, login: LinkLogin): Promise<void> {
  if (!s.pending()) return;
  const { ctx, link } = s;
  // 1. A session slot must be available (per-IP cap; global cap unless some source holds more
  // than this one). Checked before the registry, so that a full relay answers server_busy to
  // registered and unregistered ids alike; nothing is evicted yet.
  if (slotRefusal(s, login) === null) return;
  // 2. The registry may refuse the id (closed registration, or a key that differs).
  let known;
  try {
    known = await ctx.registry.lookup(login.clientId);
  } catch (e) {
    return s.internal(e);
  }
  if (!s.pending()) return; // closed while the registry answered
  if (known && !constantTimeEqual(known.publicKey, login.identityKey)) {
    return s.authFail(); // a second preimage of the id; never overwritten
  }
  if (!known && !ctx.openRegistration) return s.authFail();
  // 3. Take the slot (evicting the biggest source's newest session if the relay is full).
  const replacing = slotRefusal(s, login);
  if (replacing === null) return;
  if (replacing) ctx.sessions.release(replacing);
  if (ctx.sessions.admit(link, "newest") !== "ok") return s.busy("sessions_full");
  // 4. Register a new id.
  let registered = false;
  if (!known) {
    try {
      const r = await ctx.registry.register(login.clientId, login.identityKey);
      if (!s.pending()) return void ctx.sessions.release(link);
      if (r === "conflict") {
        ctx.sessions.release(link);
        return s.authFail();
      }
      registered = r === "new";
    } catch (e) {
      ctx.sessions.release(link);
      return s.internal(e);
    }
  }
  s.open(registered);
}

/**
 * Rule 1: null when refused (answered `server_busy`), else the session of this id to replace
 * (which keeps the total; only the per-IP cap can refuse it), or undefined.
 */
function slotRefusal(s: LoginSteps, login: LinkLogin): RelayLink | undefined | null {
  const { ctx, link } = s;
  const old = s.sessionOf(idKey(login.clientId));
  const replacing = old && ctx.sessions.has(old) ? old : undefined;
  if (replacing) {
    if (
      replacing.source !== link.source &&
      ctx.sessions.countOf(link.source) >= ctx.limits.maxSessionsPerIp
    ) {
      s.busy("sessions_per_ip");
      return null;
    }
    return replacing;
  }
  const check = ctx.sessions.check(link);
  if (check !== "ok") {
    s.busy(check === "full" ? "sessions_full" : "sessions_per_ip");
    return null;
  }
  return undefined;
}
