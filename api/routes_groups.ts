/**
 * The group routes of the local API (protocol/README.md, section 11.11): create, list, show,
 * add and remove members, leave. Sending to a group is POST /send with the group's name or id as
 * `to`. Described like routes.ts's; the app mounts them (mountGroups, from app.ts).
 *
 * @module
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { DaemonService } from "../daemon/service.ts";
import { mount, reply } from "./_validate.ts";
import type { ApiEnv } from "./guard.ts";
import { errors, json, JSON_BODY, ok } from "./routes.ts";
import * as S from "./schemas.ts";

const group = z.object({
  id: z.string().openapi({ description: "The group's id (32 hex digits) or your name for it" }),
});
const member = group.extend({
  member: z.string().openapi({ description: "The member's client id or contact name" }),
});
const changed = (what: string) => ({
  200: ok(`${what}: the group at its new epoch`, S.Group),
  ...errors(...JSON_BODY, "not_found", "recipient_unknown", "key_mismatch", "busy"),
});

/** The group routes, by name. */
export const groupRoutes = {
  createGroup: createRoute({
    method: "post",
    path: "/groups",
    summary: "Creates a group: you are its admin; its signed first epoch goes to every member",
    request: { body: { required: true, content: json(S.GroupCreate) } },
    responses: {
      201: ok("The group", S.Group),
      ...errors(...JSON_BODY, "name_taken", "recipient_unknown", "key_mismatch"),
    },
  }),
  groups: createRoute({
    method: "get",
    path: "/groups",
    summary: "Groups, those you left or were removed from included",
    responses: { 200: ok("Groups", z.object({ groups: z.array(S.Group) })), ...errors() },
  }),
  group: createRoute({
    method: "get",
    path: "/groups/{id}",
    summary: "A group",
    request: { params: group },
    responses: { 200: ok("The group", S.Group), ...errors("not_found") },
  }),
  addMembers: createRoute({
    method: "post",
    path: "/groups/{id}/members",
    summary: "Adds members (admins only; `admin`: makes them admins): a signed change sent to " +
      "every member; a new member receives nothing sent before",
    request: { params: group, body: { required: true, content: json(S.GroupAdd) } },
    responses: changed("Added"),
  }),
  removeMember: createRoute({
    method: "delete",
    path: "/groups/{id}/members/{member}",
    summary: "Removes a member (admins only): a signed change; it receives nothing sent after",
    request: { params: member },
    responses: changed("Removed"),
  }),
  rename: createRoute({
    method: "put",
    path: "/groups/{id}/name",
    summary: "Names a group for you (names are local, like contact names; unique)",
    request: { params: group, body: { required: true, content: json(S.GroupName) } },
    responses: {
      200: ok("The group", S.Group),
      ...errors(...JSON_BODY, "not_found", "name_taken"),
    },
  }),
  leave: createRoute({
    method: "post",
    path: "/groups/{id}/leave",
    summary: "Leaves a group: a change signed by you, sent to every member",
    request: { params: group },
    responses: changed("Left"),
  }),
};

/** Mounts the group routes onto `app`. */
export function mountGroups(app: OpenAPIHono<ApiEnv>, service: DaemonService): void {
  const g = groupRoutes;
  mount(
    app,
    g.createGroup,
    async (c) => reply(await service.createGroup(c.req.valid("json")), 201),
  );
  mount(app, g.groups, () => reply({ groups: service.groups() }, 200));
  mount(app, g.group, (c) => reply(service.group(c.req.valid("param").id), 200));
  mount(app, g.addMembers, async (c) => {
    const { admin, members } = c.req.valid("json");
    return reply(await service.addGroupMembers(c.req.valid("param").id, { members, admin }), 200);
  });
  mount(app, g.removeMember, async (c) => {
    const { id, member } = c.req.valid("param");
    return reply(await service.removeGroupMember(id, member), 200);
  });
  mount(app, g.rename, async (c) => {
    return reply(await service.nameGroup(c.req.valid("param").id, c.req.valid("json").name), 200);
  });
  mount(app, g.leave, async (c) => reply(await service.leaveGroup(c.req.valid("param").id), 200));
}
