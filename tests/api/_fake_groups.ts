/**
 * The group half of the API tests' fake DaemonService (_fake_service.ts extends it): groups in
 * memory, so the API's group routes can be checked without a daemon. Members are taken as given.
 *
 * @module
 */
import { type GroupRecord, ServiceError } from "../../daemon/service.ts";
import { FakeFiles } from "./_fake_files.ts";

/** This fake's own id (the same as _fake_service.ts's ME_ID). */
const ME = "2d5a73e4-8b3f-8c6a-be3d-4f5a6b7c8d9e";

/** Groups, in memory. */
export class FakeGroups extends FakeFiles {
  /** Groups by id; a test may add some. */
  readonly groupMap = new Map<string, GroupRecord>();

  #find(idOrName: string): GroupRecord {
    const g = this.groupMap.get(idOrName) ??
      [...this.groupMap.values()].find((g) => g.name === idOrName);
    if (!g) throw new ServiceError("not_found", `No group "${idOrName}"`);
    return g;
  }

  createGroup(req: { name: string; members: string[] }): Promise<GroupRecord> {
    const id = (this.groupMap.size + 1).toString(16).padStart(32, "0");
    const g: GroupRecord = {
      id,
      name: req.name,
      epoch: 1,
      members: [ME, ...req.members],
      admins: [ME],
      state: "member",
    };
    this.groupMap.set(id, g);
    return Promise.resolve(g);
  }

  groups(): GroupRecord[] {
    return [...this.groupMap.values()];
  }

  group(idOrName: string): GroupRecord {
    return this.#find(idOrName);
  }

  addGroupMembers(idOrName: string, req: { members: string[]; admin?: boolean }) {
    const g = this.#find(idOrName);
    g.members = [...new Set([...g.members, ...req.members])];
    if (req.admin) g.admins = [...new Set([...g.admins, ...req.members])];
    g.epoch++;
    return Promise.resolve(g);
  }

  removeGroupMember(idOrName: string, member: string): Promise<GroupRecord> {
    const g = this.#find(idOrName);
    if (!g.members.includes(member)) throw new ServiceError("not_found", `${member} is no member`);
    g.members = g.members.filter((m) => m !== member);
    g.epoch++;
    return Promise.resolve(g);
  }

  nameGroup(idOrName: string, name: string | null): Promise<GroupRecord> {
    const g = this.#find(idOrName);
    g.name = name;
    return Promise.resolve(g);
  }

  leaveGroup(idOrName: string): Promise<GroupRecord> {
    const g = this.#find(idOrName);
    g.members = g.members.filter((m) => m !== ME);
    g.state = "left";
    g.epoch++;
    return Promise.resolve(g);
  }
}
