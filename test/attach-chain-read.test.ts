// How the attached tier reads a presented chain: through getPeerX509Certificate's issuer links
// where a one-time probe showed node copies them, through getPeerCertificate(true) elsewhere. On
// either path the app's own view of the chain stays what node alone would show.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { attach, type DecisionEvent } from '../dist/index.js';
import { native } from '../dist/tls/native.js';
import { nodeLinksPeerChain, probeNodePeerChain } from '../dist/tls/peer-chain-probe.js';
import { listen, waitFor } from './helpers/owned';
import { makePki, type Pki } from './helpers/mtls';

function serverOptions(pki: Pki): tls.TlsOptions {
  const { key, chain: cert } = pki.server;
  return { key, cert, ca: pki.ca.rootCert, requestCert: true, rejectUnauthorized: true };
}

/** Connects a node:tls client presenting leaf + intermediate; resolves with the server's socket. */
async function connect(t: Test, server: tls.Server, port: number, pki: Pki): Promise<tls.TLSSocket> {
  const accepted = waitFor<[tls.TLSSocket]>(server, 'secureConnection');
  const { key, chain: cert } = pki.client;
  const client = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki.ca.rootCert, key, cert });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const [socket] = await accepted;
  return socket;
}

/** The common names node's getPeerCertificate(true) links, leaf first, without the root's self-link. */
function detailedNames(socket: tls.TLSSocket): string[] {
  const names: string[] = [];
  const seen = new Set<string>();
  for (let c = socket.getPeerCertificate(true); c?.raw && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
    seen.add(c.fingerprint256);
    names.push(String(c.subject.CN));
  }
  return names;
}

t.test('throwawayIdentity: a bad name is a coded error, never a crash', async (t) => {
  for (const bad of [undefined, null, 42, {}, '', 'x'.repeat(65), 'a\0b']) {
    t.throws(() => native.throwawayIdentity(bad as string), { code: 'ERR_CTLS_INVALID_OPTION' }, JSON.stringify(bad));
  }
});

t.test('throwawayIdentity: a leaf issued by its own CA, with the leaf key', async (t) => {
  const identity = native.throwawayIdentity('probe');
  const [leaf, ca] = identity.chain.split(/(?<=-----END CERTIFICATE-----\n)/).map((pem) => new X509Certificate(pem));
  t.equal(leaf?.subject, 'CN=probe');
  t.equal(ca?.subject, 'CN=probe CA');
  t.ok(leaf?.checkIssued(ca!) && leaf.verify(ca!.publicKey), 'the CA signed the leaf');
  t.ok(leaf?.checkPrivateKey(createPrivateKey(identity.key)), 'the key is the leaf key');
  t.notOk(leaf?.ca, 'the leaf is no CA');
  t.not(native.throwawayIdentity('probe').key, identity.key, 'new keys each call');
});

t.test('the probe answers what node does with the presented chain', async (t) => {
  const linked = await probeNodePeerChain();
  t.equal(nodeLinksPeerChain(), linked, 'the answer is kept');
  t.equal(await probeNodePeerChain(), linked, 'and shared');
  const pki = await makePki();
  const server = tls.createServer(serverOptions(pki));
  const port = await listen(t, server);
  const socket = await connect(t, server, port, pki);
  const first = socket.getPeerX509Certificate();
  const second = socket.getPeerX509Certificate();
  t.equal(
    first?.issuerCertificate !== undefined && second?.issuerCertificate !== undefined,
    linked,
    'two reads both see the intermediate exactly where the probe says node copies them',
  );
});

t.test('attached: the app sees the chain node alone shows, and the presented chain decides', async (t) => {
  await probeNodePeerChain();
  const pki = await makePki();
  const plain = tls.createServer(serverOptions(pki));
  const plainNames = detailedNames(await connect(t, plain, await listen(t, plain), pki));

  const server = tls.createServer(serverOptions(pki));
  // No `intermediates`: only what the client presented can complete its chain.
  const attachment = attach(server, { ca: pki.ca.rootCert });
  t.teardown(() => attachment.detach());
  const decisions: DecisionEvent[] = [];
  server.on('decision', (event: DecisionEvent) => decisions.push(event));
  const socket = await connect(t, server, await listen(t, server), pki);
  t.same(detailedNames(socket), plainNames, "the app's getPeerCertificate(true) is unchanged");
  if (plainNames.length > 1) t.match(decisions, [{ outcome: 'allow', trigger: 'handshake' }]);
  t.equal(attachment.inspect().connections.length, 1);
});

t.test('without a policy, an allowed connection reaches the app in the turn its handshake ends', async (t) => {
  const pki = await makePki();
  const order: string[] = [];
  const run = async (policy?: () => boolean): Promise<string[]> => {
    order.length = 0;
    const server = tls.createServer(serverOptions(pki));
    const attachment = attach(server, { ca: pki.ca.rootCert, ...(policy === undefined ? {} : { policy }) });
    t.teardown(() => attachment.detach());
    server.on('decision', () => process.nextTick(() => order.push('next tick after the decision')));
    server.on('secureConnection', () => order.push('secureConnection'));
    await connect(t, server, await listen(t, server), pki);
    await new Promise((resolve) => setImmediate(resolve));
    return [...order];
  };
  t.same(await run(), ['secureConnection', 'next tick after the decision'], 'handed on as node does, at once');
  t.same(
    await run(() => true),
    ['next tick after the decision', 'secureConnection'],
    'a policy is waited for: the app gets the connection after its answer',
  );
});
