import { assertEquals, assertRejects } from "../_assert.ts";
import { concat, toHex, utf8 } from "../../protocol/bytes.ts";
import {
  type DhKeyPair,
  generateDh,
  randomSecret,
  sign,
  signingKeyFromSeed,
  type SigningKeyPair,
} from "../../protocol/_crypto.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { clientIdFromPublicKey } from "../../protocol/identity.ts";
import {
  LinkInitiator,
  linkPrologue,
  LinkResponder,
  loginSignedBytes,
} from "../../protocol/link_handshake.ts";
import { HandshakeState } from "../../protocol/noise.ts";

const relay = await generateDh();
const identity = await signingKeyFromSeed(randomSecret());
const isAuthFailed = (e: Error) => e instanceof ProtocolError && e.code === "auth_failed";

Deno.test("link handshake: three messages of 1+n+48, 49 and 160 bytes; both sides agree", async () => {
  const linkKey = await generateDh();
  const init = new LinkInitiator(relay.publicKey, linkKey, identity);
  const resp = new LinkResponder(relay);
  const msg1 = await init.start();
  assertEquals([msg1.length, msg1[0], msg1[1], msg1[2]], [51, 2, 2, 1], "n = 2, [2, 1], e, tag");
  const msg2 = await resp.accept(msg1);
  assertEquals(msg2.length, 32 + 1 + 16, "e, encrypted version byte");
  const { msg3, keys } = await init.finish(msg2);
  assertEquals(msg3.length, 32 + 16 + 32 + 64 + 16, "encrypted s, encrypted key ‖ signature");
  const login = await resp.complete(msg3);
  assertEquals(login.identityKey, identity.publicKey);
  assertEquals(login.clientId, clientIdFromPublicKey(identity.publicKey));
  assertEquals([keys.version, login.version], [2, 2], "the highest version both speak");
  assertEquals(toHex(keys.handshakeHash), toHex(login.handshakeHash));
  const ad = new Uint8Array();
  const up = await keys.send.encryptWithAd(ad, utf8.encode("up"));
  assertEquals(await login.recv.decryptWithAd(ad, up), utf8.encode("up"));
  const down = await login.send.encryptWithAd(ad, utf8.encode("down"));
  assertEquals(await keys.recv.decryptWithAd(ad, down), utf8.encode("down"));
});

Deno.test("link handshake: the prologue is the label, a count and the offered versions", () => {
  assertEquals(
    linkPrologue([3, 1]),
    concat(utf8.encode("schied/1/link-prologue"), Uint8Array.of(2, 3, 1)),
  );
  assertEquals(
    loginSignedBytes(Uint8Array.of(7)),
    concat(utf8.encode("schied/1/link-auth"), Uint8Array.of(7)),
  );
});

Deno.test("link handshake: the relay picks the version it supports from the offer", async () => {
  const init = new LinkInitiator(relay.publicKey, await generateDh(), identity, [3, 1, 2]);
  const resp = new LinkResponder(relay);
  const msg1 = await init.start();
  assertEquals([...msg1.subarray(0, 4)], [3, 3, 1, 2]);
  const { msg3, keys } = await init.finish(await resp.accept(msg1));
  assertEquals([keys.version, (await resp.complete(msg3)).version], [2, 2]);
  // A daemon of an earlier release offers [1] and is served version 1.
  const old = new LinkInitiator(relay.publicKey, await generateDh(), identity, [1]);
  const oldResp = new LinkResponder(relay);
  const m = await old.finish(await oldResp.accept(await old.start()));
  assertEquals([m.keys.version, (await oldResp.complete(m.msg3)).version], [1, 1]);
  const none = new LinkInitiator(relay.publicKey, await generateDh(), identity, [3, 9]);
  await assertRejects(
    async () => await new LinkResponder(relay).accept(await none.start()),
    (e) => e instanceof ProtocolError && e.code === "version_unsupported",
  );
});

Deno.test("link handshake: stripping an offered version breaks message 1 (no downgrade)", async () => {
  const init = new LinkInitiator(relay.publicKey, await generateDh(), identity, [2, 1]);
  const msg1 = await init.start();
  const stripped = concat(Uint8Array.of(1, 1), msg1.subarray(3));
  await assertRejects(() => new LinkResponder(relay).accept(stripped), isAuthFailed);
});

Deno.test("link handshake: a wrong pinned relay key fails at message 1", async () => {
  const other = await generateDh();
  const init = new LinkInitiator(other.publicKey, await generateDh(), identity);
  await assertRejects(
    async () => new LinkResponder(relay).accept(await init.start()),
    isAuthFailed,
  );
});

Deno.test("link handshake: malformed or tampered messages all fail as auth_failed", async () => {
  const bad1 = [[], [0], [0, 1], [17, ...new Array(80).fill(1)], [2, 1], [1, 1, ...new Array(47)]];
  for (const m of bad1) {
    await assertRejects(() => new LinkResponder(relay).accept(Uint8Array.from(m)), isAuthFailed);
  }
  for (const step of [1, 2, 3]) {
    for (const at of [0, 40, -1]) {
      const init = new LinkInitiator(relay.publicKey, await generateDh(), identity);
      const resp = new LinkResponder(relay);
      const flip = (m: Uint8Array) => {
        const t = m.slice();
        t[at < 0 ? t.length - 1 : at + (step === 1 ? 2 : 0)]! ^= 1;
        return t;
      };
      await assertRejects(
        async () => {
          let m1 = await init.start();
          if (step === 1) m1 = flip(m1);
          let m2 = await resp.accept(m1);
          if (step === 2) m2 = flip(m2);
          const { msg3 } = await init.finish(m2);
          await resp.complete(step === 3 ? flip(msg3) : msg3);
        },
        isAuthFailed,
        `message ${step}, byte ${at}`,
      );
    }
  }
});

/** A hand-made daemon: message 3's payload comes from `payload(h)`. */
async function login(
  payload: (h: Uint8Array, id: SigningKeyPair) => Promise<Uint8Array>,
  linkKey?: DhKeyPair,
): Promise<Uint8Array> {
  const hs = new HandshakeState({
    pattern: "XK",
    initiator: true,
    prologue: linkPrologue([1]),
    s: linkKey ?? await generateDh(),
    rs: relay.publicKey,
  });
  const resp = new LinkResponder(relay);
  const msg2 = await resp.accept(
    concat(Uint8Array.of(1, 1), await hs.writeMessage(new Uint8Array())),
  );
  await hs.readMessage(msg2);
  const msg3 = await hs.writeMessage((h) => payload(h, identity));
  return (await resp.complete(msg3)).clientId;
}

Deno.test("link handshake: the login signs exactly LINK_AUTH_LABEL ‖ h after message 3's tokens", async () => {
  const good = (h: Uint8Array, id: SigningKeyPair) =>
    sign(id, concat(utf8.encode("schied/1/link-auth"), h)).then((s) => concat(id.publicKey, s));
  assertEquals(await login(good), clientIdFromPublicKey(identity.publicKey));
  const stranger = await signingKeyFromSeed(randomSecret());
  let replay: Uint8Array | undefined;
  await login(async (h, id) => (replay = await good(h, id)));
  const cases: [string, (h: Uint8Array, id: SigningKeyPair) => Promise<Uint8Array>][] = [
    ["no label", async (h, id) => concat(id.publicKey, await sign(id, h))],
    [
      "other label",
      async (h, id) =>
        concat(id.publicKey, await sign(id, concat(utf8.encode("schied/1/link-aut"), h))),
    ],
    [
      "key of another",
      async (h, id) => concat(stranger.publicKey, await sign(id, loginSignedBytes(h))),
    ],
    ["replayed login", () => Promise.resolve(replay!)],
    ["short payload", async (h, id) => (await good(h, id)).subarray(0, 95)],
    ["long payload", async (h, id) => concat(await good(h, id), Uint8Array.of(0))],
    ["empty payload", () => Promise.resolve(new Uint8Array())],
  ];
  for (const [name, payload] of cases) {
    await assertRejects(() => login(payload), isAuthFailed, name);
  }
});

Deno.test("link handshake: the responder refuses calls out of order", async () => {
  const resp = new LinkResponder(relay);
  await assertRejects(
    () => resp.complete(new Uint8Array(160)),
    (e) => e.message.includes("not started"),
  );
  const init = new LinkInitiator(relay.publicKey, await generateDh(), identity);
  const m1 = await init.start();
  await resp.accept(m1);
  await assertRejects(() => resp.accept(m1), (e) => e.message.includes("already started"));
});

Deno.test("link handshake: message 1 must carry an empty payload (section 5.3), else auth_failed", async () => {
  for (const payload of [Uint8Array.of(0), utf8.encode("hello relay")]) {
    const hs = new HandshakeState({
      pattern: "XK",
      initiator: true,
      prologue: linkPrologue([1]),
      s: await generateDh(),
      rs: relay.publicKey,
    });
    const msg1 = concat(Uint8Array.of(1, 1), await hs.writeMessage(payload));
    await assertRejects(() => new LinkResponder(relay).accept(msg1), isAuthFailed);
  }
});

Deno.test("link handshake: message 2 must carry exactly the version byte, else the daemon stops", async () => {
  for (const payload of [Uint8Array.of(1, 0), Uint8Array.of(1, 1, 1), new Uint8Array()]) {
    const init = new LinkInitiator(relay.publicKey, await generateDh(), identity, [1]);
    const msg1 = await init.start();
    // A relay that answers with extra (or no) payload bytes after the version.
    const hs = new HandshakeState({
      pattern: "XK",
      initiator: false,
      prologue: linkPrologue([1]),
      s: relay,
    });
    await hs.readMessage(msg1.subarray(2));
    const msg2 = await hs.writeMessage(payload);
    await assertRejects(() => init.finish(msg2), isAuthFailed, `payload ${toHex(payload)}`);
  }
});
