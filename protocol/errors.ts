/**
 * Errors of the wire protocol, with stable codes.
 *
 * A code is both a string (for logs, tests and the local API) and a 16-bit number (for ERROR and
 * RESULT frames on the wire). Numbers are never reused.
 *
 * @module
 */

/** Every stable error code, with its wire number. */
export const ERROR_CODES = {
  bad_frame: 1,
  unknown_frame: 2,
  too_large: 3,
  rate_limited: 4,
  replaced: 5,
  slow_reader: 6,
  rekey: 7,
  server_busy: 8,
  idle_timeout: 9,
  shutting_down: 10,
  internal: 11,
  auth_failed: 12,
  watch_limit: 13,
  version_unsupported: 14,
  decrypt_failed: 15,
  handshake_timeout: 16,
  key_mismatch: 17,
  replayed: 18,
  session_unknown: 19,
  recipient_busy: 20,
  busy: 21,
  peer_version: 22,
} as const;

/** A stable error code name. */
export type ErrorCode = keyof typeof ERROR_CODES;

const BY_NUMBER = new Map<number, ErrorCode>(
  Object.entries(ERROR_CODES).map(([name, n]) => [n, name as ErrorCode]),
);

/**
 * Maps a wire number back to its code; unknown numbers (from a newer peer) become `internal`.
 *
 * @example
 * ```ts
 * codeFromNumber(5); // "replaced"
 * ```
 */
export function codeFromNumber(n: number): ErrorCode {
  return BY_NUMBER.get(n) ?? "internal";
}

/**
 * An error of the protocol layer: malformed input, a failed check, a broken limit.
 *
 * @example
 * ```ts
 * throw new ProtocolError("bad_frame", "Cannot parse frame: length 70000 exceeds 65535");
 * ```
 */
export class ProtocolError extends Error {
  /** The stable code. */
  readonly code: ErrorCode;

  /** Makes an error with a stable code and a specific message. */
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
  }
}

/**
 * The one error every authentication failure turns into, whatever its cause (bad MAC, bad
 * signature, unknown id, malformed key): untrusted input fails closed and uniformly, so that a
 * prober learns nothing from the answer (as in WireGuard).
 */
export function authFailed(): ProtocolError {
  return new ProtocolError("auth_failed", "Authentication failed");
}
