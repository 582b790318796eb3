/**
 * The daemon's state dir: where it is, and what lives in it. Directory 0700, secrets 0600.
 *
 * @module
 */

/** The default state dir: $XDG_STATE_HOME/schied, else ~/.local/state/schied. */
export function defaultStateDir(env: (k: string) => string | undefined): string {
  const xdg = env("XDG_STATE_HOME");
  if (xdg) return `${xdg}/schied`;
  return `${env("HOME") ?? "."}/.local/state/schied`;
}

/** File holding the API address of the running daemon (for the CLI). */
export const API_ADDRESS_FILE = "api-address";

/**
 * File holding the relay address the daemon uses (also kept in the database); the launcher reads
 * it to grant network access to the relay's host and port only.
 */
export const RELAY_ADDRESS_FILE = "relay-address";
