/**
 * Who this daemon is now: the one object every store reads its identity from. Rotation changes
 * it here, once, and every part sees the new identity (there is no copy of "me" to update).
 *
 * @module
 */
import { formatId } from "../protocol/identity.ts";
import type { E2EKeys } from "../protocol/e2e_handshake.ts";
import type { Identity } from "./keystore.ts";

/** The current identity, shared. */
export class Self {
  #identity: Identity;
  #idText: string;

  /** @param identity the current identity */
  constructor(identity: Identity) {
    this.#identity = identity;
    this.#idText = formatId(identity.id);
  }

  /** The identity's keys. */
  get identity(): Identity {
    return this.#identity;
  }

  /** The client_id (16 bytes). */
  get id(): Uint8Array {
    return this.#identity.id;
  }

  /** The client_id as text: the `me` column of every table. */
  get idText(): string {
    return this.#idText;
  }

  /** What the end-to-end handshakes need. */
  get e2e(): E2EKeys & { idText: string } {
    const i = this.#identity;
    return { id: i.id, idText: this.#idText, staticKey: i.e2eKey, vouch: i.vouch };
  }

  /** Becomes `identity` (after a rotation). */
  become(identity: Identity): void {
    this.#identity = identity;
    this.#idText = formatId(identity.id);
  }
}
