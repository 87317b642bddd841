#!/usr/bin/env python3
"""A TLS client without a certificate and without post-handshake auth; output as pha_client.py."""
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
from pha_client import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main(plain=True))
