/** An attached node:tls server with one admitted mTLS connection, for the attached tier's gate tests. */
import type { Test } from 'tap';
import * as tls from 'node:tls';
import { attach, type Attachment, type AttachOptions, type DecisionEvent, type Policy } from '../../dist/index.js';
import { listen, waitFor } from './owned';
import { makePki } from './mtls';

export interface AttachedConnection {
  attachment: Attachment;
  /** The handshake decision that admitted the connection. */
  decision: DecisionEvent;
  /** The server's side of the connection, after its handshake decision. */
  socket: tls.TLSSocket;
  client: tls.TLSSocket;
  /** What the client read so far. */
  received: () => string;
}

/** Every attach option but the trust (`ca`, `intermediates`: the helper's own PKI) and the policy. */
export type AttachSettings = Omit<AttachOptions, 'ca' | 'intermediates' | 'policy'>;

/**
 * A TLS 1.3 mTLS connection to a `node:tls` server attached with `policy` (and `settings`, such as
 * a re-check schedule), admitted by it.
 */
export async function attachedConnection(
  t: Test,
  policy: Policy,
  settings: AttachSettings = {},
): Promise<AttachedConnection> {
  const pki = await makePki();
  const server = tls.createServer(
    {
      key: pki.server.key,
      cert: pki.server.chain,
      ca: pki.ca.rootCert,
      requestCert: true,
      rejectUnauthorized: true,
      maxVersion: 'TLSv1.3',
    },
    (socket) => socket.on('error', () => {}),
  );
  const attachment = attach(server, { ...settings, ca: pki.ca.rootCert, intermediates: pki.ca.issuerChain, policy });
  t.teardown(() => attachment.detach());
  const port = await listen(t, server);
  const admitted = waitFor<[DecisionEvent, tls.TLSSocket]>(server, 'decision');
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.rootCert,
    key: pki.client.key,
    cert: pki.client.chain,
    maxVersion: 'TLSv1.3',
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  await waitFor(client, 'secureConnect');
  const [decision, socket] = await admitted;
  let received = '';
  client.on('data', (chunk: Buffer) => (received += chunk.toString()));
  return { attachment, decision, socket, client, received: () => received };
}
