/**
 * The transport keys of a real Noise XK link handshake, for record-layer tests: `keys` is the
 * daemon's side (initiator), `login` the relay's.
 */
import { generateDh, randomSecret, signingKeyFromSeed } from "../../protocol/_crypto.ts";
import { LinkInitiator, LinkResponder } from "../../protocol/link_handshake.ts";

/** Runs a whole XK handshake and login between a fresh daemon identity and a fresh relay key. */
export async function linkKeys() {
  const relayKey = await generateDh();
  const identity = await signingKeyFromSeed(randomSecret());
  const init = new LinkInitiator(relayKey.publicKey, await generateDh(), identity);
  const resp = new LinkResponder(relayKey);
  const { msg3, keys } = await init.finish(await resp.accept(await init.start()));
  const login = await resp.complete(msg3);
  return { keys, login };
}
