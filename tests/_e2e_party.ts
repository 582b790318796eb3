/**
 * A fresh end-to-end party for protocol and attack tests: an identity from the CSPRNG, a static
 * X25519 key and the identity's vouch for it (protocol/README.md, section 11.2).
 *
 * @module
 */
import { generateDh, randomSecret, signingKeyFromSeed } from "../protocol/_crypto.ts";
import { type E2EKeys, signStatic } from "../protocol/e2e_handshake.ts";
import { clientIdFromPublicKey } from "../protocol/identity.ts";

/** E2E keys with the identity public key they vouch with. */
export interface Party extends E2EKeys {
  identityKey: Uint8Array;
}

/** A new party. */
export async function e2eParty(): Promise<Party> {
  const identity = await signingKeyFromSeed(randomSecret());
  const staticKey = await generateDh();
  return {
    id: clientIdFromPublicKey(identity.publicKey),
    staticKey,
    vouch: await signStatic(identity, staticKey.publicKey),
    identityKey: identity.publicKey,
  };
}
