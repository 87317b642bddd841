// Attack: REST on node:https keeps the library contexts it verifies clients under in a map of 16,
// keyed by CA text (lib/http/peer.ts trustContexts), and remembers resumed sessions' chains per
// such context object (verified-chains.ts). A server with more SNI contexts than that (17 tenants,
// each with its own CA bundle; here the bundles differ only in layout, which is all the key sees)
// churns the map whenever its tenants' clients take turns: every request on a keep-alive
// connection then builds a new library context (PEM parsing, a store) and verifies its chain
// again, since the per-socket memo is keyed by the context object. 17 keep-alive connections asked
// in turn build one context per request instead of none; the cost grows with the CA bundles' size
// and falls on every request of every tenant. (Chains remembered for resumed sessions are keyed
// by the same objects and go with them.)
//
// The fix: keep the library context with the native context it mirrors (a WeakMap keyed by the
// native context, so it lives exactly as long as node's), or size the map by the server's contexts;
// key remembered chains by the CA text's digest rather than by the context object.
import t, { type Test } from 'tap';
import { certs } from './helpers/certs';
import { waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';
import { serveHttps, tlsClient } from './helpers/https-resumption';

const contextModule = require('../dist/tls/context.js') as { createSecureContext: (...args: unknown[]) => unknown };

const TENANTS = 17;

async function serve(t: Test, tenants: number): Promise<number> {
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const { port } = await serveHttps(t, {
    tls: { ca: certs.ca },
    setup: (server) => {
      // Each tenant's own CA bundle.
      for (let i = 0; i < tenants; i++) server.addContext(`t${i}.test`, { ...identity, ca: certs.ca + '\n'.repeat(i) });
    },
  });
  return port;
}

interface Connection {
  get(): Promise<string>;
}

async function open(t: Test, port: number, name: string): Promise<Connection> {
  const client = tlsClient(t, { port, servername: name });
  await waitFor(client, 'secureConnect', SOON);
  const get = rawHttp(client);
  return {
    get: () =>
      get('GET', '/').then(
        (reply) => `${reply.status} ${String(reply.body)}`,
        () => 'closed',
      ),
  };
}

for (const tenants of [TENANTS - 1, TENANTS])
  t.test(`keep-alive requests do not build a trust context each, ${tenants} tenants`, async (t) => {
    const port = await serve(t, tenants);
    const connections: Connection[] = [];
    for (let i = 0; i < tenants; i++) connections.push(await open(t, port, `t${i}.test`));
    for (const connection of connections) await connection.get();
    const original = contextModule.createSecureContext;
    let built = 0;
    contextModule.createSecureContext = (...args: unknown[]) => {
      built++;
      return original(...args);
    };
    t.teardown(() => {
      contextModule.createSecureContext = original;
    });
    for (let round = 0; round < 3; round++) for (const connection of connections) await connection.get();
    t.equal(built, 0, `${3 * tenants} requests on connections already judged build no new context (${built})`);
  });
