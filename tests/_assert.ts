/**
 * The assertions the tests use: node's strict assert, re-exported under std-like names.
 *
 * @module
 */
import assert from "node:assert/strict";

/** Deep strict equality. */
export function assertEquals<T>(actual: unknown, expected: T, msg?: string): asserts actual is T {
  assert.deepStrictEqual(actual, expected, msg ?? "values differ");
}

/** Truthiness. */
export function assertOk(value: unknown, msg?: string): asserts value {
  assert.ok(value, msg ?? "expected a truthy value");
}

/** Awaits a promise that must reject; returns the error for further checks. */
export async function assertRejects(
  fn: () => Promise<unknown>,
  check?: (e: Error) => boolean,
  msg?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    if (check && !check(e as Error)) {
      assert.fail(`${msg ?? "rejection"}: unexpected error ${(e as Error).stack}`);
    }
    return e as Error;
  }
  assert.fail(msg ?? "expected a rejection");
}

/** A function that must throw; returns the error. */
export function assertThrows(
  fn: () => unknown,
  check?: (e: Error) => boolean,
  msg?: string,
): Error {
  try {
    fn();
  } catch (e) {
    if (check && !check(e as Error)) {
      assert.fail(`${msg ?? "throw"}: unexpected error ${(e as Error).stack}`);
    }
    return e as Error;
  }
  assert.fail(msg ?? "expected a throw");
}
