#!/usr/bin/env python3
"""The seed relay: schied's original design, as a small Python asyncio program.

A WebSocket relay (Debian's python3-websockets) where every client runs an authenticated X25519
handshake with the relay and logs in by challenge-response, and every message is AES-256-GCM
decrypted and re-encrypted on each hop (python3-cryptography, i.e. OpenSSL). See README.md for
the wire format and for what this models. Benchmark use only.

Prints {"port": N, "key": "<relay Ed25519 public key, hex>"} on stdout once listening. Exits
when stdin closes (so it never outlives the benchmark), on SIGTERM/SIGINT, or after
--max-seconds (default 600).
"""
import argparse
import asyncio
import hashlib
import json
import os
import signal
import sys

import websockets
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

RAW = serialization.Encoding.Raw
RAW_PUB = serialization.PublicFormat.Raw
ID_LEN, KEY_LEN, NONCE_LEN = 16, 32, 12

static_key = Ed25519PrivateKey.generate()
sessions = {}  # client id (16 bytes) -> (websocket, AESGCM of relay -> client)


def seal(aead, plain):
    nonce = os.urandom(NONCE_LEN)
    return nonce + aead.encrypt(nonce, plain, None)


def open_record(aead, record):
    return aead.decrypt(record[:NONCE_LEN], record[NONCE_LEN:], None)


async def handshake(ws):
    """hello -> signed reply -> sealed login signature -> sealed "ok". Returns (id, c2r, r2c)."""
    hello = await asyncio.wait_for(ws.recv(), 10)
    if not isinstance(hello, bytes) or len(hello) != ID_LEN + 2 * KEY_LEN:
        raise ValueError("bad hello")
    cid, identity, client_eph = hello[:16], hello[16:48], hello[48:80]
    if hashlib.sha256(identity).digest()[:ID_LEN] != cid:
        raise ValueError("id is not the identity's")
    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes(RAW, RAW_PUB)
    challenge = os.urandom(32)
    transcript = hello + eph_pub + challenge
    await ws.send(eph_pub + challenge + static_key.sign(b"seed-hs1" + transcript))
    shared = eph.exchange(X25519PublicKey.from_public_bytes(client_eph))
    okm = HKDF(
        algorithm=hashes.SHA256(),
        length=64,
        salt=hashlib.sha256(transcript).digest(),
        info=b"seed keys",
    ).derive(shared)
    c2r, r2c = AESGCM(okm[:32]), AESGCM(okm[32:])
    login = open_record(c2r, await asyncio.wait_for(ws.recv(), 10))
    Ed25519PublicKey.from_public_bytes(identity).verify(login, b"seed-login" + challenge + eph_pub)
    await ws.send(seal(r2c, b"ok"))
    return cid, c2r, r2c


async def handler(ws, path=None):
    try:
        cid, c2r, r2c = await handshake(ws)
    except (ValueError, InvalidSignature, InvalidTag, asyncio.TimeoutError,
            websockets.ConnectionClosed):
        await ws.close(4012, "auth_failed")
        return
    sessions[cid] = (ws, r2c)
    try:
        async for record in ws:
            plain = open_record(c2r, record)  # to(16) || payload
            target = sessions.get(plain[:ID_LEN])
            if target is None:
                continue  # offline: dropped (the seed stored nothing)
            tws, taead = target
            try:
                await tws.send(seal(taead, cid + plain[ID_LEN:]))
            except websockets.ConnectionClosed:
                pass
    except (InvalidTag, websockets.ConnectionClosed):
        pass
    finally:
        if sessions.get(cid, (None,))[0] is ws:
            del sessions[cid]


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=600)
    args = ap.parse_args()
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def done(*_):
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done)
    loop.call_later(args.max_seconds, done)

    def on_stdin():
        if not os.read(sys.stdin.fileno(), 4096):
            loop.remove_reader(sys.stdin.fileno())
            done()

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    async with websockets.serve(handler, args.host, args.port, compression=None,
                                max_size=1 << 20, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        key = static_key.public_key().public_bytes(RAW, RAW_PUB).hex()
        print(json.dumps({"port": port, "key": key}), flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
