/**
 * The demo's mTLS client: connects with an identity and resolves once its handshake completed.
 */
import { connect } from '../client.js';
import type { TLSSocket } from '../tls/socket.js';
import type { DevelopmentCA, IssuedIdentity } from './pki.js';

/** A client presenting `identity` to the demo server on `port`; `who` names it in the error. */
export async function connectDemoClient(
  port: number,
  ca: DevelopmentCA,
  identity: IssuedIdentity,
  who: string,
): Promise<TLSSocket> {
  const client = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: ca.rootCert,
    key: identity.key,
    cert: identity.chain,
  });
  client.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    client.once('secureConnect', resolve);
    client.once('close', () => reject(new Error(`${who} could not connect`)));
  });
  return client;
}
