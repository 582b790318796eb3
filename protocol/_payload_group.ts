/**
 * The group fields of an `m` payload (protocol/README.md, section 11.11): `g` (the group id),
 * `ge` (the sender's epoch) and `gm` (the group message id, the same in every member's copy) on a
 * group message; `gc` (1 to GROUP_CHAIN_MAX change statements in base64url, oldest first) on a
 * change carrier, whose `text` is empty. Used only by payload.ts.
 *
 * @module
 */
import { fromBase64Url } from "./bytes.ts";
import { GROUP_MAX_MEMBERS, groupChangeLen, isGroupId } from "./group.ts";

/** Most change statements in one carrier. */
export const GROUP_CHAIN_MAX = 4;

const ID_RE = /^[0-9a-f-]{1,64}$/;

function isStatement(v: unknown): boolean {
  if (typeof v !== "string" || v.length > Math.ceil(groupChangeLen(GROUP_MAX_MEMBERS) * 4 / 3)) {
    return false;
  }
  try {
    return fromBase64Url(v).length >= groupChangeLen(0);
  } catch {
    return false;
  }
}

/** The group fields of `j` checked and copied onto `m`; `fail` throws the payload's error. */
export function parseGroupFields(
  j: Record<string, unknown>,
  m: { text: string; g?: string; ge?: number; gm?: string; gc?: string[] },
  fail: (msg: string) => never,
): void {
  if (j.g !== undefined || j.ge !== undefined || j.gm !== undefined) {
    if (typeof j.g !== "string" || !isGroupId(j.g)) fail("g is not a group id");
    if (typeof j.ge !== "number" || !Number.isSafeInteger(j.ge) || j.ge < 1) {
      fail("ge is not a positive integer");
    }
    if (typeof j.gm !== "string" || !ID_RE.test(j.gm)) fail("gm is not a message id");
    m.g = j.g;
    m.ge = j.ge;
    m.gm = j.gm;
  }
  if (j.gc !== undefined) {
    if (
      !Array.isArray(j.gc) || j.gc.length < 1 || j.gc.length > GROUP_CHAIN_MAX ||
      !j.gc.every(isStatement)
    ) {
      fail(`gc is not 1 to ${GROUP_CHAIN_MAX} group change statements in base64url`);
    }
    if (m.text !== "" || m.g !== undefined) fail("gc is on a payload with a text or a group");
    m.gc = [...j.gc as string[]];
  }
}
