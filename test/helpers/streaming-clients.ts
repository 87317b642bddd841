// Ten mTLS clients of one owned server, each with a certificate of its own and writing a line every
// 5 ms: enough connections and distinct chains for a trust change to verify them in one batch.
import type { Test } from 'tap';
import type { IssuedIdentity } from '../../dist/dev/pki.js';
import type { Server } from '../../dist/server.js';
import { connectPair, makePki, mtlsOptions, type Pair, type Pki, Received, startServer } from './mtls';

export interface StreamingClients {
  pki: Pki;
  server: Server;
  identities: IssuedIdentity[];
  pairs: Pair[];
  /** What the server received from each client. */
  received: Received[];
}

export async function streamingClients(t: Test, count = 10): Promise<StreamingClients> {
  const pki = await makePki();
  const identities = await Promise.all(
    Array.from({ length: count }, (_, i) => pki.ca.issueClient({ commonName: `client-${i}` })),
  );
  const { server, port } = await startServer(t, mtlsOptions(pki, { crl: await pki.ca.crls() }));
  const pairs: Pair[] = [];
  for (const identity of identities) pairs.push(await connectPair(t, server, port, pki, identity));
  const received = pairs.map((pair) => new Received(pair.socket));
  const timer = setInterval(() => {
    for (const [i, pair] of pairs.entries()) if (!pair.client.destroyed) pair.client.write(`client-${i}\n`);
  }, 5);
  t.teardown(() => clearInterval(timer));
  await Promise.all(received.map((r) => r.until(100)));
  return { pki, server, identities, pairs, received };
}
