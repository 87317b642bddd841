// Attack: TLSSocket#setTimeout (tls/transport-socket.ts) adds its callback as a 'timeout' listener
// on every call, also for `setTimeout(0, callback)`, which on node's sockets removes that callback
// (net.Socket: "If timeout is 0 ... the callback is removed"). node's HTTP client relies on it:
// each request on a kept-alive socket adds its 'timeout' listener (emitRequestTimeout) and, once
// the response ends, removes it with `socket.setTimeout(0, emitRequestTimeout)`
// (_http_client.js responseKeepAlive). On an identityAgent() connection every request with a
// timeout (its own, or the agent's `timeout` option) so leaves one more listener on the socket:
// a long-lived keep-alive connection holds one per request it ever carried, node prints
// MaxListenersExceededWarning after ten, and a later idle timeout runs every one of them.
//
// A correct library follows net.Socket: `setTimeout(0, callback)` removes `callback`, so a
// connection re-used for any number of requests keeps the one listener node's own socket keeps.
//
// Attack class: exhaustion (listeners added per request on a long-lived socket).
import t from 'tap';
import * as https from 'node:https';
import { identityAgent, type TLSSocket } from '../dist/index.js';
import { makePki } from './helpers/mtls';
import { listen } from './helpers/owned';

t.test('a kept-alive identityAgent connection does not gain a listener per request', async (t) => {
  const pki = await makePki();
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning.name);
  process.on('warning', onWarning);
  t.teardown(() => void process.off('warning', onWarning));
  const server = https.createServer(
    { key: pki.server.key, cert: pki.server.chain, ca: pki.ca.rootCert, requestCert: true },
    (_req, res) => res.end('ok'),
  );
  const port = await listen(t, server);
  const agent = identityAgent({
    identity: { key: pki.client.key, cert: pki.client.chain },
    ca: pki.ca.rootCert,
    keepAlive: true,
    maxSockets: 1,
  });
  t.teardown(() => agent.destroy());

  const REQUESTS = 50;
  const sockets = new Set<TLSSocket>();
  for (let i = 0; i < REQUESTS; i++) {
    await new Promise<void>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, servername: 'localhost', agent, timeout: 5000 }, (res) => {
        res.resume();
        res.on('end', resolve);
      });
      req.on('socket', (socket) => sockets.add(socket as unknown as TLSSocket));
      req.on('error', reject);
      req.end();
    });
  }
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(sockets.size, 1, `the ${REQUESTS} requests share one kept-alive connection`);
  const [socket] = sockets;
  t.ok(
    socket!.listenerCount('timeout') <= 2,
    `the connection keeps ${socket!.listenerCount('timeout')} 'timeout' listeners after ${REQUESTS} requests`,
  );
  t.notOk(warnings.includes('MaxListenersExceededWarning'), 'no MaxListenersExceededWarning');
});
