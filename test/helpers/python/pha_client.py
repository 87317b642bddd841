#!/usr/bin/env python3
"""A TLS client for interop tests: Python's ssl module (its own OpenSSL) as the peer.

It offers TLS 1.3 post-handshake authentication (unless --no-pha), so a server can ask it for a
certificate at any time; CPython answers such a CertificateRequest inside SSLSocket.recv(), which is
why this loop never stops reading the socket.

Output, one line each, flushed at once:
  PROTOCOL:<version>     after the handshake
  PEER_CERT:<CN>         after the handshake (the server certificate's subject CN)
  RECV:<text>            every chunk received; \\, CR and LF escaped so a chunk stays on one line
  CLOSED:<reason>        'eof' for a clean close_notify or FIN, else the error (e.g. a fatal alert)
Bytes read from stdin are sent as they come; stdin EOF does not close the connection.
Exit status: 0 after a clean close, 1 after an error.
"""
import argparse
import os
import selectors
import socket
import ssl
import sys

CONNECT_TIMEOUT = 10


def parse_args(argv, plain):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--ca', help='CA file to verify the server with (no verification without it)')
    p.add_argument('--servername', default='localhost', help='SNI and the name checked in the certificate')
    p.add_argument('--tls', choices=['1.2', '1.3'], help='pin one protocol version')
    p.add_argument('--alpn', help='comma-separated ALPN protocols')
    if not plain:
        p.add_argument('--cert', help='client certificate chain (PEM, leaf first)')
        p.add_argument('--key', help='client private key (PEM)')
        p.add_argument('--no-pha', action='store_true', help='do not offer post-handshake authentication')
    return p.parse_args(argv)


def make_context(args, plain):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if args.ca:
        ctx.load_verify_locations(args.ca)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if args.tls:
        version = ssl.TLSVersion.TLSv1_3 if args.tls == '1.3' else ssl.TLSVersion.TLSv1_2
        ctx.minimum_version = ctx.maximum_version = version
    if args.alpn:
        ctx.set_alpn_protocols(args.alpn.split(','))
    if not plain:
        if args.cert:
            ctx.load_cert_chain(args.cert, args.key)
        # Must be set before the handshake: it is an extension of the ClientHello (RFC 8446 4.2.6).
        ctx.post_handshake_auth = not args.no_pha
    return ctx


def emit(line):
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


def escape(data):
    text = data.decode('utf-8', errors='replace')
    return text.replace('\\', '\\\\').replace('\r', '\\r').replace('\n', '\\n')


def peer_common_name(tls):
    cert = tls.getpeercert()
    for rdn in (cert or {}).get('subject', ()):
        for key, value in rdn:
            if key == 'commonName':
                return value
    return '(unverified)'


def drain(tls):
    """Reads until OpenSSL wants more bytes. Returns False once the connection is over."""
    while True:
        try:
            data = tls.recv(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return True
        if not data:
            emit('CLOSED:eof')
            return False
        emit('RECV:' + escape(data))


def send(tls, data):
    # Rare partial writes are simplest to finish in blocking mode; a timeout keeps it bounded.
    tls.settimeout(CONNECT_TIMEOUT)
    try:
        tls.sendall(data)
    finally:
        tls.setblocking(False)


def run(tls):
    selector = selectors.DefaultSelector()
    selector.register(tls, selectors.EVENT_READ, 'net')
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, 'stdin')
    # Records may already sit decrypted in OpenSSL's buffer (e.g. data sent with the last
    # handshake flight), where select() cannot see them.
    if not drain(tls):
        return 0
    while True:
        for key, _ in selector.select():
            if key.data == 'stdin':
                data = os.read(sys.stdin.fileno(), 65536)
                if data:
                    send(tls, data)
                else:
                    selector.unregister(sys.stdin.fileno())
            elif not drain(tls):
                return 0


def main(argv=None, plain=False):
    args = parse_args(sys.argv[1:] if argv is None else argv, plain)
    try:
        ctx = make_context(args, plain)
        raw = socket.create_connection((args.host, args.port), timeout=CONNECT_TIMEOUT)
        # Without suppressing ragged EOFs an abrupt close is reported as an error, not as 'eof'.
        tls = ctx.wrap_socket(raw, server_hostname=args.servername, suppress_ragged_eofs=False)
        emit('PROTOCOL:' + str(tls.version()))
        emit('PEER_CERT:' + peer_common_name(tls))
        tls.setblocking(False)
        return run(tls)
    except (OSError, ValueError) as err:
        emit('CLOSED:%s: %s' % (type(err).__name__, err))
        return 1
    except KeyboardInterrupt:
        emit('CLOSED:interrupted')
        return 1


if __name__ == '__main__':
    sys.exit(main())
