/**
 * An owned-tier server whose contexts an app's SNICallback chooses, and one fixture client
 * connecting with SNI 'localhost': for the tests of what a failing or misbehaving callback may
 * still let through.
 */
import type { Test } from 'tap';
import { createServer, connect, type ServerOptions } from '../../dist/index.js';
import { certs } from './certs';
import { listen } from './owned';

/**
 * Whether the server admits the fixture client (emits 'secureConnection') with this SNICallback.
 * The server's own `ca` is the fixture CA unless `ca` names another. Waits until the client's
 * connection closes, or two seconds.
 */
export async function sniAdmits(
  t: Test,
  SNICallback: ServerOptions['SNICallback'],
  ca: string = certs.ca,
): Promise<boolean> {
  let admitted = false;
  const server = createServer({
    key: certs.serverKey,
    cert: certs.serverChain,
    ca,
    requestCert: true,
    rejectUnauthorized: true,
    SNICallback,
  });
  server.on('tlsClientError', () => {});
  server.on('secureConnection', (socket) => {
    admitted = true;
    socket.on('error', () => {});
    socket.end();
  });
  const port = await listen(t, server);
  const client = connect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
  });
  client.on('error', () => {});
  client.resume();
  await Promise.race([new Promise((r) => client.once('close', r)), new Promise((r) => setTimeout(r, 2000))]);
  client.destroy();
  return admitted;
}
