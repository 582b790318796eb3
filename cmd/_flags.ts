/**
 * Flag helpers: every flag may also come from a `SCHIED_*` environment variable
 * (`--frames-per-second` ↔ `SCHIED_FRAMES_PER_SECOND`); the flag wins.
 *
 * @module
 */
import { usage } from "./_output.ts";

/** The environment variable of a flag. */
export function envName(flag: string): string {
  return `SCHIED_${flag.toUpperCase().replaceAll("-", "_")}`;
}

/** A flag's value, else its env var, else undefined. */
export function flagOrEnv(
  values: Record<string, unknown>,
  flag: string,
  env: (k: string) => string | undefined,
): string | undefined {
  const v = values[flag];
  if (typeof v === "string") return v;
  return env(envName(flag));
}

/** A boolean flag, or its env var set to 1/true/yes. */
export function boolFlagOrEnv(
  values: Record<string, unknown>,
  flag: string,
  env: (k: string) => string | undefined,
): boolean {
  if (values[flag] === true) return true;
  const e = env(envName(flag))?.toLowerCase();
  return e === "1" || e === "true" || e === "yes";
}

/** Parses a whole number within bounds, with an error that names the flag. */
export function intFlag(
  name: string,
  text: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw usage(`--${name} must be a whole number, got "${text}"`);
  const n = Number(text);
  if (n < min || n > max) throw usage(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}
