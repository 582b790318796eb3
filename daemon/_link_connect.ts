/**
 * The opening of a link: the WebSocket, the XK handshake and login, up to the relay's WELCOME.
 * Used only by link_client.ts ({@linkcode LinkClient.connect}).
 *
 * @module
 */
import WebSocket from "ws";
import { parseRelayAddress } from "../protocol/address.ts";
import { Channel } from "../protocol/channel.ts";
import { LINK_VERSIONS, MAX_WIRE_MESSAGE } from "../protocol/constants.ts";
import { codeFromNumber, ProtocolError } from "../protocol/errors.ts";
import type { Frame } from "../protocol/frames.ts";
import { LinkInitiator } from "../protocol/link_handshake.ts";
import { TokenBucket } from "../protocol/token_bucket.ts";
import type { LinkClient, LinkClientOptions, LinkClosed } from "./link_client.ts";

/** What the handshake drives of the LinkClient it builds: its private side, as closures. */
export interface LinkHooks {
  /** The LinkClient itself. */
  readonly link: LinkClient;
  /** The error the relay (ERROR frame) or the record layer reported last, if any. */
  lastError(): LinkClosed | undefined;
  /** Records the error the record layer reported. */
  setLastError(e: LinkClosed): void;
  /** Sets the bucket that paces the link's frames (at the WELCOME). */
  pace(bucket: TokenBucket): void;
  /** A frame after the WELCOME. */
  onFrame(f: Frame): void;
  /** The socket closed. */
  onClosed(info: LinkClosed): void;
  /** A record from the relay, for the channel. */
  receive(bytes: Uint8Array): void;
}

/** Builds the LinkClient over `ws`, with the channel `channelFactory` makes of its hooks. */
export type LinkFactory = (
  ws: WebSocket,
  channelFactory: (h: LinkHooks) => Channel,
  version: number,
) => LinkHooks;

/** Connects, runs the handshake, and resolves after the relay's WELCOME. */
export function connectLink(o: LinkClientOptions, make: LinkFactory): Promise<LinkClient> {
  const addr = typeof o.address === "string" ? parseRelayAddress(o.address) : o.address;
  const ws = new WebSocket(addr.url, {
    perMessageDeflate: false,
    maxPayload: MAX_WIRE_MESSAGE,
    ...(o.localAddress ? { localAddress: o.localAddress } : {}),
  });
  ws.binaryType = "nodebuffer";
  const init = new LinkInitiator(addr.key, o.linkKey, o.identity, o.versions ?? LINK_VERSIONS);
  return new Promise<LinkClient>((resolve, reject) => {
    let link: LinkHooks | undefined;
    let step = 0;
    let settled = false;
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        ws.terminate();
      } catch { /* closed */ }
      reject(e);
    };
    const timer = setTimeout(
      () => fail(new ProtocolError("handshake_timeout", "Relay handshake timed out")),
      o.timeoutMs ?? 10_000,
    );
    ws.on("open", () => {
      init.start().then((m1) => ws.send(m1), fail);
    });
    ws.on(
      "error",
      (e: Error) => fail(new ProtocolError("internal", `Cannot reach relay: ${e.message}`)),
    );
    ws.on("close", (code: number, reason: Buffer) => {
      const info: LinkClosed = (link ? link.lastError() : undefined) ?? {
        code: code >= 4000 ? codeFromNumber(code - 4000) : null,
        reason: reason.toString() || `closed (${code})`,
      };
      if (!settled) {
        fail(
          new ProtocolError(info.code ?? "auth_failed", `Relay closed the link: ${info.reason}`),
        );
      }
      if (link) link.onClosed(info);
    });
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return fail(new ProtocolError("bad_frame", "Relay sent text"));
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      if (step === 0) {
        step = 1;
        init.finish(bytes).then(({ msg3, keys }) => {
          ws.send(msg3);
          link = make(
            ws,
            (self) =>
              new Channel({
                send: keys.send,
                recv: keys.recv,
                peer: "relay",
                version: keys.version,
                write: (r) => ws.send(r),
                onFrames: (frames) => {
                  for (const f of frames) {
                    if (!settled && f.type === "welcome") {
                      self.link.welcome = f;
                      // Pace ourselves a little under the relay's frame rate, which it enforces
                      // by closing the link.
                      const rate = Math.max(1, Math.floor(f.framesPerSecond * 0.9));
                      self.pace(new TokenBucket(rate, rate, Date.now()));
                      settled = true;
                      clearTimeout(timer);
                      resolve(self.link);
                    } else self.onFrame(f);
                  }
                },
                onError: (e) => {
                  self.setLastError({ code: e.code, reason: e.message });
                  ws.terminate();
                },
              }),
            keys.version,
          );
        }, fail);
      } else if (link) {
        link.receive(bytes);
      } else {
        fail(new ProtocolError("auth_failed", "Unexpected message during handshake"));
      }
    });
  });
}
