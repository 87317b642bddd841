/**
 * Whether this Node hands out a server socket's presented chain without consuming it.
 *
 * `tls.TLSSocket#getPeerX509Certificate()` links the intermediates a client presented as
 * `issuerCertificate`s, which costs a fraction of `getPeerCertificate(true)` (that one formats every
 * field of every certificate into an object). But some Node lines build those links by moving the
 * certificates out of OpenSSL's own list of what the peer presented: after the call, the app's
 * `getPeerCertificate(true)` shows the leaf alone. The attached tier must leave what the app sees
 * unchanged, so it reads the chain that way only where a handshake of its own, over memory and with
 * a throwaway identity, showed that two reads in a row both see the intermediates.
 */
import { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import type * as NativeModule from './native.js';

/** A probe that has not answered in this time counts as "consumes": the safe answer. */
const PROBE_TIMEOUT_MS = 5000;

let answer: boolean | undefined;
let probing: Promise<boolean> | null = null;

/** Known (by the probe) to link the presented chain without consuming it; false until then. */
export function nodeLinksPeerChain(): boolean {
  return answer === true;
}

/** Runs the probe once per process; later calls share its answer. */
export function probeNodePeerChain(): Promise<boolean> {
  // Whatever goes wrong (no EC keys under this OpenSSL's policy, a TLS setting that fails the
  // handshake) answers "consumes", the read that is safe on every Node.
  probing ??= Promise.resolve()
    .then(probe)
    .then(
      (linked) => (answer = linked),
      () => (answer = false),
    );
  return probing;
}

/** Two Duplex ends where what one writes the other reads. */
function memoryPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const end = (other: () => Duplex): Duplex =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        other().push(chunk);
        callback();
      },
      final(callback) {
        other().push(null);
        callback();
      },
    });
  ends.push(
    end(() => ends[1]!),
    end(() => ends[0]!),
  );
  return [ends[0]!, ends[1]!];
}

function probe(): Promise<boolean> {
  // Loaded here, not at import: continuous-tls/http reads peers through node-peer.ts, and that entry
  // point must work where the addon is not installed.
  const { native } = require('./native.js') as typeof NativeModule;
  const identity = native.throwawayIdentity('continuous-tls chain probe');
  const [serverEnd, clientEnd] = memoryPair();
  const secureContext = tls.createSecureContext({ key: identity.key, cert: identity.chain });
  const server = new tls.TLSSocket(serverEnd, {
    isServer: true,
    secureContext,
    requestCert: true,
    rejectUnauthorized: false,
  });
  const client = tls.connect({ socket: clientEnd, secureContext, rejectUnauthorized: false });
  return new Promise<boolean>((resolve) => {
    const finish = (linked: boolean): void => {
      clearTimeout(timer);
      server.destroy();
      client.destroy();
      resolve(linked);
    };
    const timer = setTimeout(() => finish(false), PROBE_TIMEOUT_MS);
    timer.unref();
    server.on('error', () => finish(false));
    client.on('error', () => finish(false));
    server.once('secure', () => {
      const first = server.getPeerX509Certificate();
      const second = server.getPeerX509Certificate();
      finish(first?.issuerCertificate !== undefined && second?.issuerCertificate !== undefined);
    });
  });
}
