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
