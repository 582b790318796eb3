/**
 * The engine's identity: what /me shows, rotating to a new identity (which tells every contact,
 * rotation.ts) and forgetting a retired one. Used only by engine.ts.
 *
 * @module
 */
import { toBase64Url } from "../protocol/bytes.ts";
import { fingerprint, formatId } from "../protocol/identity.ts";
import type { KeyFile, Keystore } from "./keystore.ts";
import type { EngineParts } from "./_engine_parts.ts";
import { moveIdentity, rotationStatement } from "./rotation.ts";
import { type Me, ServiceError } from "./service.ts";

/** The engine's key file and where it is kept. */
export interface IdentityKeys {
  readonly keystore: Keystore;
  keys: KeyFile;
}

/** Engine.me. */
export function me(p: EngineParts, k: IdentityKeys): Me {
  const c = p.self.identity;
  return {
    id: p.self.idText,
    identity_key: toBase64Url(c.signing.publicKey),
    fingerprint: fingerprint(c.signing.publicKey),
    relay: p.relayAddress() ?? null,
    retired: k.keys.retired.map((r) => ({
      id: formatId(r.id),
      identity_key: toBase64Url(r.signing.publicKey),
    })),
  };
}

/**
 * Engine.rotateIdentity: the new identity, the old one's rows moved to it and a rotation
 * statement queued to every contact (rotation.ts).
 */
export async function rotateIdentity(p: EngineParts, k: IdentityKeys): Promise<Me> {
  await p.serial.run(async () => {
    p.store.flush();
    const old = k.keys.current;
    k.keys = await k.keystore.rotate(new Date(p.now()));
    const next = k.keys.current;
    // A crash from here until the move commits: the next start moves (rotation.ts adoptRotation).
    const statement = await rotationStatement(old, next, p.now());
    await p.store.write(() => {
      moveIdentity(
        p.store.db,
        p.store.sealer,
        formatId(old.id),
        formatId(next.id),
        statement,
        p.now(),
      );
      // The operations after this one (in its batch too) are the new identity's.
      p.self.become(next);
    }).catch((e) => {
      p.self.become(old);
      throw e;
    });
    p.sessions.clear();
    p.delivery.reset();
    p.outbox.load(p.messages.allPending());
  });
  p.relay()?.reconnect();
  return me(p, k);
}

/** Engine.removeRetired. */
export async function removeRetired(p: EngineParts, k: IdentityKeys, id: string): Promise<Me> {
  const removed = await p.serial.run(async () => {
    if (!(await k.keystore.removeRetired(id))) return false;
    k.keys = await k.keystore.keys();
    return true;
  });
  if (!removed) throw new ServiceError("not_found", `No retired identity ${id.slice(0, 80)}`);
  return me(p, k);
}
