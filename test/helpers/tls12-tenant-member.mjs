// One member of a two-process node:https deployment sharing TLS ticket keys (forked by
// test/attack9c-rest-tls12-shared-ticket-keys.test.ts): a server whose default context trusts
// `defaultCa` and whose addContext('localhost') tenant trusts `tenantCa`, REST in front. The parent
// sends { identity: { key, cert }, defaultCa, tenantCa, ticketKeys (hex) }; the member answers
// { port } and exits on disconnect.
import https from 'node:https';
import { once } from 'node:events';
import { authorizeRequest } from '../../dist/http/index.mjs';

process.once('message', async ({ identity, defaultCa, tenantCa, ticketKeys }) => {
  const authz = authorizeRequest({ policy: () => ({ allow: true, reason: 'ok' }), exposeReason: true });
  const server = https.createServer(
    { ...identity, ca: defaultCa, requestCert: true, rejectUnauthorized: true, sessionIdContext: 'tenants' },
    authz.node((req, res) => res.end(`resumed=${String(req.socket.isSessionReused())}`)),
  );
  server.addContext('localhost', { ...identity, ca: tenantCa });
  server.setTicketKeys(Buffer.from(ticketKeys, 'hex'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  process.send({ port: server.address().port });
  process.once('disconnect', () => {
    server.closeAllConnections();
    server.close();
  });
});
