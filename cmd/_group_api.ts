/**
 * The group routes for the CLI (`schied group`, `send` and `chat` to a group) and the tests,
 * through ApiClient.request (api/routes_groups.ts describes them).
 *
 * @module
 */
import type { ApiClient } from "../api/client.ts";
import type { GroupRecord } from "../daemon/service.ts";

export type { GroupRecord };

const path = (idOrName: string) => `/groups/${encodeURIComponent(idOrName)}`;

async function group(res: Promise<Response>): Promise<GroupRecord> {
  return await (await res).json() as GroupRecord;
}

/** `POST /groups`: a new group of you (its admin) and `members` (ids or contact names). */
export function createGroup(api: ApiClient, name: string, members: string[]): Promise<GroupRecord> {
  return group(api.request("POST", "/groups", { json: { name, members } }));
}

/** `GET /groups`: every group known. */
export async function listGroups(api: ApiClient): Promise<GroupRecord[]> {
  const res = await api.request("GET", "/groups");
  return (await res.json() as { groups: GroupRecord[] }).groups;
}

/** `GET /groups/{id}`: one group, by id or name; null when there is none. */
export async function getGroup(api: ApiClient, idOrName: string): Promise<GroupRecord | null> {
  try {
    return await group(api.request("GET", path(idOrName)));
  } catch (e) {
    if ((e as { code?: string }).code === "not_found") return null;
    throw e;
  }
}

/** `POST /groups/{id}/members`: adds members (or makes them admins). */
export function addMembers(
  api: ApiClient,
  idOrName: string,
  members: string[],
  admin = false,
): Promise<GroupRecord> {
  return group(api.request("POST", `${path(idOrName)}/members`, { json: { members, admin } }));
}

/** `DELETE /groups/{id}/members/{member}`: removes a member. */
export function removeMember(api: ApiClient, idOrName: string, member: string) {
  return group(api.request("DELETE", `${path(idOrName)}/members/${encodeURIComponent(member)}`));
}

/** `PUT /groups/{id}/name`: names a group for you (null: no name). */
export function nameGroup(api: ApiClient, idOrName: string, name: string | null) {
  return group(api.request("PUT", `${path(idOrName)}/name`, { json: { name } }));
}

/** `POST /groups/{id}/leave`: leaves a group. */
export function leaveGroup(api: ApiClient, idOrName: string): Promise<GroupRecord> {
  return group(api.request("POST", `${path(idOrName)}/leave`));
}
