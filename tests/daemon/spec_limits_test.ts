/**
 * The spec's tables of named limits (protocol/README.md) and the code say the same: every
 * `NAME` in the first column of a limits table that the code exports has the value written
 * beside it (units ms, s, min, minutes converted for names ending in _MS).
 */
import { assertEquals, assertOk } from "../_assert.ts";
import * as constants from "../../protocol/constants.ts";
import { FILE_CHUNK_BYTES } from "../../protocol/file.ts";
import { GROUP_MAX_MEMBERS } from "../../protocol/group.ts";
import { GROUP_CHAIN_MAX } from "../../protocol/_payload_group.ts";
import { FILE_WINDOW, RETRY_MS, WINDOW } from "../../daemon/delivery.ts";
import { E2E_ACK_DELAY_MS, E2E_ACK_EVERY } from "../../daemon/_ack_pacer.ts";
import { HANDSHAKE_TIMEOUT_MS } from "../../daemon/sessions.ts";
import { GROUP_WAIT_MS } from "../../daemon/_groups_in.ts";

const CODE: Record<string, number> = {
  ...Object.fromEntries(
    Object.entries(constants).filter(([, v]) => typeof v === "number") as [string, number][],
  ),
  FILE_CHUNK_BYTES,
  GROUP_MAX_MEMBERS,
  GROUP_CHAIN_MAX,
  FILE_WINDOW,
  RETRY_MS,
  WINDOW,
  E2E_ACK_DELAY_MS,
  E2E_ACK_EVERY,
  HANDSHAKE_TIMEOUT_MS,
  GROUP_WAIT_MS,
};

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, min: 60_000, minutes: 60_000 };

/** The number a spec cell starts with, in ms for a name ending in _MS. */
function specValue(name: string, cell: string): number | undefined {
  const m = /^([\d,]+(?:\.\d+)?)\s*(ms|s|min|minutes)?\b/.exec(cell.trim());
  if (!m) return undefined;
  const n = Number(m[1]!.replaceAll(",", ""));
  if (!name.endsWith("_MS")) return n;
  return m[2] ? n * UNIT_MS[m[2]]! : undefined;
}

Deno.test("spec: the named limits in protocol/README.md's tables are the code's values", async () => {
  const spec = await Deno.readTextFile(new URL("../../protocol/README.md", import.meta.url));
  const rows = [...spec.matchAll(/^\| `([A-Z][A-Z0-9_]+)`\s*\|([^|]+)\|/gm)];
  const checked: string[] = [];
  const seen = new Map<string, string>();
  for (const [, name, cell] of rows) {
    const prior = seen.get(name!);
    const value = specValue(name!, cell!);
    if (prior !== undefined && value !== undefined) {
      assertEquals(String(value), prior, `${name} is in two tables with different values`);
    }
    if (value !== undefined) seen.set(name!, String(value));
    if (!(name! in CODE)) continue;
    const v = value;
    if (v === undefined) continue; // a value that is not a plain number (a label, a formula)
    assertEquals(v, CODE[name!], `${name}: the spec says ${cell!.trim()}`);
    checked.push(name!);
  }
  for (const name of ["WINDOW", "RETRY_MS", "E2E_ACK_DELAY_MS", "E2E_ACK_EVERY", "FILE_WINDOW"]) {
    assertOk(checked.includes(name), `${name} is in a limits table (checked: ${checked})`);
  }
});
