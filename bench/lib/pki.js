'use strict';
// Benchmark certificates: one development CA (root -> intermediate -> leaves,
// ECDSA P-256 throughout), a server identity and `clients` distinct client
// identities, the CRLs in force at start and the CRL that a revalidation run
// swaps in. Plain strings only, so the bundle travels to workers over IPC.
const { load } = require('./load.js');

async function makePki({ clients = 8 } = {}) {
  const { DevelopmentCA } = load();
  if (typeof DevelopmentCA !== 'function') throw new Error('DevelopmentCA is missing from dist/ (run the build)');
  const ca = await DevelopmentCA.create({ keyType: 'ec', commonName: 'continuous-tls bench CA' });
  const server = await ca.issueServer({ commonName: 'localhost', altNames: ['localhost', '127.0.0.1'], keyType: 'ec' });
  const identities = [];
  for (let i = 0; i < clients; i++) {
    const id = await ca.issueClient({ commonName: `bench-client-${i}`, keyType: 'ec' });
    identities.push({ key: id.key, cert: id.chain, leaf: id.cert, serial: id.serial });
  }
  // node:tls checks CRLs for the whole chain when given any (CRL_CHECK_ALL),
  // so both tiers get the issuer's and the root's list — as an array: node
  // reads one CRL per entry.
  const rootCrl = await ca.rootCrl({ nextUpdateMs: 24 * 3600_000 });
  const crl = [await ca.crl({ nextUpdateMs: 24 * 3600_000 }), rootCrl];
  // The swap: a fresh list that revokes the first client identity, so the
  // connections using it are cut and every other one is re-decided.
  ca.revoke(identities[0].serial, 'keyCompromise');
  const revokedCrl = [await ca.crl({ nextUpdateMs: 24 * 3600_000 }), rootCrl];
  return {
    ca: ca.rootCert,
    // For attach(): Node 24.x / 26.8+ hide the intermediates a client presents (nodejs/node#65579).
    intermediates: ca.issuerChain,
    server: { key: server.key, cert: server.chain },
    clients: identities,
    crl,
    revokedCrl,
    revokedSerial: identities[0].serial,
  };
}

module.exports = { makePki };
