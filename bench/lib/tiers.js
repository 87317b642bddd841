'use strict';
// The three ways a benchmark server can terminate mTLS, and the two client
// stacks. Every tier gets the same certificates, CRLs and TLS 1.3 floor, so
// the only difference measured is the stack itself.
//
//   owned     continuous-tls createServer / connect (the addon's TLS)
//   node      node:tls createServer / connect
//   attached  node:tls createServer + continuous-tls attach() (revalidation
//             engine on top of node's own TLS)
const tls = require('node:tls');
const { load } = require('./load.js');

const TIERS = ['owned', 'node', 'attached'];

function serverOptions(pki) {
  return {
    key: pki.server.key,
    cert: pki.server.cert,
    ca: pki.ca,
    crl: pki.crl,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
  };
}

/**
 * Creates a listening-ready server for `tier`. `onSecure(socket)` runs for
 * every authorized connection. Returns the server and tier-neutral handles
 * for what a benchmark pokes at (CRL swap, live connections).
 */
function createTierServer(tier, pki, onSecure, extra = {}) {
  if (tier === 'owned') {
    const ctls = load();
    const server = ctls.createServer({ ...serverOptions(pki), ...extra }, onSecure);
    return {
      server,
      setCrl: (pem) => server.setCrl(pem),
      live: () => server.authorizer.connections().length,
      authorizer: server.authorizer,
    };
  }
  // Nagle off, as the owned tier does on its transports: the comparison is
  // between TLS stacks, not between socket defaults.
  const server = tls.createServer({ ...serverOptions(pki), noDelay: true }, onSecure);
  if (tier === 'node') {
    return { server, setCrl: null, live: () => null, authorizer: null };
  }
  if (tier === 'attached') {
    const { attach } = load();
    const attachment = attach(server, { ca: pki.ca, intermediates: pki.intermediates, crl: pki.crl, ...extra });
    return {
      server,
      setCrl: (pem) => attachment.setCrl(pem),
      live: () => attachment.connections().length,
      authorizer: attachment.authorizer,
    };
  }
  throw new Error(`unknown tier ${tier}`);
}

/**
 * A connect function for the client side of `tier` (attached servers get the
 * node:tls client: node's TLS is what they speak). Contexts are built once per
 * identity, as a real client would, so the handshake loop measures handshakes
 * and not PEM parsing.
 */
function clientConnector(tier, pki) {
  const contexts = new Map();
  if (tier === 'owned') {
    const ctls = load();
    const contextFor = (i) => {
      const id = pki.clients[i % pki.clients.length];
      let context = contexts.get(id);
      if (context === undefined) {
        context = ctls.createSecureContext({ key: id.key, cert: id.cert, ca: pki.ca, minVersion: 'TLSv1.3' }, false);
        contexts.set(id, context);
      }
      return context;
    };
    return (port, i = 0) =>
      ctls.connect({ host: '127.0.0.1', port, servername: 'localhost', secureContext: contextFor(i) });
  }
  const contextFor = (i) => {
    const id = pki.clients[i % pki.clients.length];
    let context = contexts.get(id);
    if (context === undefined) {
      context = tls.createSecureContext({ key: id.key, cert: id.cert, ca: pki.ca, minVersion: 'TLSv1.3' });
      contexts.set(id, context);
    }
    return context;
  };
  return (port, i = 0) =>
    tls.connect({ host: '127.0.0.1', port, servername: 'localhost', secureContext: contextFor(i), noDelay: true });
}

/** Which client stack talks to a server tier. */
function clientTierFor(serverTier) {
  return serverTier === 'owned' ? 'owned' : 'node';
}

module.exports = { TIERS, createTierServer, clientConnector, clientTierFor, serverOptions };
