// identityAgent() / identityConnector(): every connection of an https.Agent or an undici Agent asks
// the agent's identity at each certificate request, so setIdentity(agent, next) (or a provider)
// rotates the certificate of pooled keep-alive connections without the client code knowing its
// sockets. The server here re-authenticates the pooled connection with a fresh certificate request
// and sees the new serial on the same connection.
import t, { type Test } from 'tap';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import {
  createServer,
  identityAgent,
  identityConnector,
  reauthorize,
  setIdentity,
  type Identity,
  type TLSSocket,
} from '../dist/index.js';
import { codeOf, makePki, mtlsOptions, type Pki } from './helpers/mtls';

async function issue(pki: Pki): Promise<Identity & { serial: string }> {
  const issued = await pki.ca.issueClient({ commonName: 'alice', validityMs: 60_000 });
  return { key: issued.key, cert: issued.chain, serial: issued.serial };
}

/** An HTTPS server on the owned tier that answers each request with the client serial it sees now. */
async function serialServer(t: Test, pki: Pki, maxVersion: 'TLSv1.2' | 'TLSv1.3') {
  const connections: TLSSocket[] = [];
  const httpServer = http.createServer((req, res) => {
    res.end((req.socket as unknown as TLSSocket).getPeerX509Certificate()?.serialNumber ?? 'none');
  });
  const server = createServer(mtlsOptions(pki, { maxVersion }), (socket) => {
    connections.push(socket);
    httpServer.emit('connection', socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        httpServer.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const port = (server.address() as AddressInfo).port;
  return { connections, port, origin: `https://localhost:${port}` };
}

function get(url: string, agent: https.Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`${version}: an https.Agent's pooled connection presents the rotated identity`, async (t) => {
    const pki = await makePki();
    const { connections, origin } = await serialServer(t, pki, version);
    const first = await issue(pki);
    const agent = identityAgent({ identity: first, ca: pki.ca.rootCert, keepAlive: true, maxSockets: 1 });
    t.teardown(() => agent.destroy());

    t.equal(await get(`${origin}/a`, agent), first.serial, 'the handshake presented the first identity');
    const second = await issue(pki);
    setIdentity(agent, second);
    const decision = await reauthorize(connections[0]!, { fresh: true });
    t.equal(decision.certificate?.serialNumber, second.serial, 'the idle pooled connection answered with the new one');
    t.equal(await get(`${origin}/b`, agent), second.serial, 'the next request sees it');
    t.equal(connections.length, 1, 'on the same connection');

    const third = await issue(pki);
    agent.setIdentity(() => third);
    t.equal((await reauthorize(connections[0]!, { fresh: true })).certificate?.serialNumber, third.serial);
    t.equal(await get(`${origin}/c`, agent), third.serial, 'a provider set later is asked too');
    t.equal(connections.length, 1);
  });

  t.test(`${version}: an undici Agent's pooled connection presents the rotated identity`, async (t) => {
    const pki = await makePki();
    const { connections, origin } = await serialServer(t, pki, version);
    let current = await issue(pki);
    const connector = identityConnector({ identity: () => current, ca: pki.ca.rootCert });
    const dispatcher = new Agent({ connect: connector });
    t.teardown(() => dispatcher.close());
    const fetchSerial = async (path: string) => (await request(`${origin}${path}`, { dispatcher })).body.text();

    const first = current.serial;
    t.equal(await fetchSerial('/a'), first);
    current = await issue(pki);
    const decision = await reauthorize(connections[0]!, { fresh: true });
    t.equal(decision.certificate?.serialNumber, current.serial, 'the provider answered the fresh request');
    t.equal(await fetchSerial('/b'), current.serial);

    const fixed = await issue(pki);
    setIdentity(connector, fixed);
    t.equal((await reauthorize(connections[0]!, { fresh: true })).certificate?.serialNumber, fixed.serial);
    t.equal(await fetchSerial('/c'), fixed.serial, 'setIdentity() replaced the provider');
    t.equal(connections.length, 1, 'one pooled connection throughout');
  });
}

t.test('an agent whose provider fails fails the request with the coded error', async (t) => {
  const pki = await makePki();
  const { origin } = await serialServer(t, pki, 'TLSv1.3');
  const agent = identityAgent({
    identity: () => Promise.reject(new Error('no certificate yet')),
    ca: pki.ca.rootCert,
  });
  t.teardown(() => agent.destroy());
  const error = await get(`${origin}/`, agent).then(
    () => null,
    (failure: Error) => failure,
  );
  t.equal(codeOf(error), 'ERR_CTLS_IDENTITY_FAILED');

  const dispatcher = new Agent({
    connect: identityConnector({
      identity: () => new Promise<Identity>(() => {}),
      identityTimeout: 100,
      ca: pki.ca.rootCert,
    }),
  });
  t.teardown(() => dispatcher.close());
  const undiciError = await request(`${origin}/`, { dispatcher }).then(
    () => null,
    (failure: Error) => failure,
  );
  t.equal(codeOf(undiciError), 'ERR_CTLS_IDENTITY_TIMEOUT');
});

t.test('options and targets are checked', async (t) => {
  const pki = await makePki();
  t.throws(() => identityAgent({ ca: pki.ca.rootCert } as never), { code: 'ERR_CTLS_INVALID_OPTION' });
  t.throws(() => identityConnector({ identity: { key: pki.client.key } as never }), {
    code: 'ERR_CTLS_INVALID_OPTION',
  });
  t.throws(() => setIdentity(new https.Agent() as never, { key: pki.client.key, cert: pki.client.chain }), {
    code: 'ERR_CTLS_INVALID_OPTION',
  });
  const connector = identityConnector({ identity: { key: pki.client.key, cert: pki.client.chain } });
  const error = await new Promise<Error | null>((resolve) =>
    connector({ hostname: 'localhost', protocol: 'http:', port: '80' }, (...result) => resolve(result[0])),
  );
  t.equal(codeOf(error), 'ERR_CTLS_INVALID_OPTION', 'plain http is refused, not sent in the clear');
});
