// The development CA (lib/pki.ts): the chains it issues verify in node:tls for mTLS, its CRLs revoke
// in node:tls, short-lived certificates really expire, a CRL past nextUpdate is refused, and the
// certificate and CRL fields are what OpenSSL and crypto.X509Certificate expect.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { DevelopmentCA, type IssuedIdentity } from '../dist/dev/pki.js';

interface Outcome {
  /** What the server side of node:tls concluded about the client certificate. */
  authorized: boolean;
  authorizationError: string | undefined;
  peerCN: string | undefined;
  /** What the client concluded about the server certificate. */
  serverAuthorized: boolean;
}

/**
 * One mTLS handshake between node:tls peers. The server does not reject (rejectUnauthorized: false),
 * so the verification result can be read from the socket instead of from a racy alert.
 */
async function handshake(
  t: Test,
  ca: DevelopmentCA,
  server: IssuedIdentity,
  client: IssuedIdentity,
  extra: { crl?: string[]; host?: string; servername?: string } = {},
): Promise<Outcome> {
  const srv = tls.createServer({
    key: server.key,
    cert: server.chain,
    ca: ca.rootCert,
    requestCert: true,
    rejectUnauthorized: false,
    ...(extra.crl ? { crl: extra.crl } : {}),
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        srv.close(() => resolve());
      }),
  );
  const accepted = once(srv, 'secureConnection') as Promise<[tls.TLSSocket]>;
  const socket = tls.connect({
    host: extra.host ?? '127.0.0.1',
    port: (srv.address() as AddressInfo).port,
    ca: ca.rootCert,
    key: client.key,
    cert: client.chain,
    ...(extra.servername === undefined ? {} : { servername: extra.servername }),
  });
  socket.on('error', () => {});
  await once(socket, 'secureConnect');
  const [peer] = await accepted;
  const outcome: Outcome = {
    authorized: peer.authorized,
    // node sets authorizationError to null, not undefined, on success.
    authorizationError: peer.authorizationError ? String(peer.authorizationError) : undefined,
    peerCN: peer.getPeerCertificate().subject?.CN?.toString(),
    serverAuthorized: socket.authorized,
  };
  socket.destroy();
  peer.destroy();
  return outcome;
}

/** `openssl crl -text` of a PEM CRL: the CLI is the reference for what OpenSSL reads. */
function crlText(pem: string): string {
  return execFileSync('openssl', ['crl', '-noout', '-text'], { input: pem, encoding: 'utf8' });
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('root -> intermediate -> leaf chains work for mTLS in node:tls', async (t) => {
  const ca = await DevelopmentCA.create();
  const server = await ca.issueServer({ commonName: 'localhost' });
  const client = await ca.issueClient({ commonName: 'alice' });

  const byName = await handshake(t, ca, server, client, { servername: 'localhost' });
  t.same(byName, { authorized: true, authorizationError: undefined, peerCN: 'alice', serverAuthorized: true });
  // No servername: node checks the host 127.0.0.1 against the IP SAN.
  const byIp = await handshake(t, ca, server, client);
  t.equal(byIp.serverAuthorized, true, 'the default IP SAN matches 127.0.0.1');

  t.equal(ca.issuerChain.match(/BEGIN CERTIFICATE/g)?.length, 1, 'issuerChain holds the intermediate');
  t.equal(client.chain, client.cert + ca.issuerChain, 'chain = leaf + intermediate');
});

t.test('a CA without intermediate, RSA keys, and an RSA leaf under an EC CA', async (t) => {
  const rsa = await DevelopmentCA.create({ intermediate: false, keyType: 'rsa', commonName: 'rsa root' });
  t.equal(rsa.issuerChain, '');
  const server = await rsa.issueServer({ commonName: 'localhost', keyType: 'rsa' });
  const client = await rsa.issueClient({ commonName: 'bob' });
  t.equal((await handshake(t, rsa, server, client, { servername: 'localhost' })).authorized, true);
  t.equal(new X509Certificate(server.cert).publicKey.asymmetricKeyType, 'rsa');
  t.equal(new X509Certificate(client.cert).publicKey.asymmetricKeyType, 'ec', 'the leaf key type is per leaf');

  const ec = await DevelopmentCA.create();
  const rsaLeaf = await ec.issueClient({ commonName: 'carol', keyType: 'rsa' });
  const ecServer = await ec.issueServer({ commonName: 'localhost' });
  t.equal((await handshake(t, ec, ecServer, rsaLeaf)).peerCN, 'carol');
});

t.test('certificate fields match what crypto.X509Certificate reports', async (t) => {
  const ca = await DevelopmentCA.create();
  const id = await ca.issueServer({
    commonName: 'api',
    altNames: ['api.test', '10.1.2.3', '::1', 'spiffe://test/api'],
  });
  const leaf = new X509Certificate(id.cert);
  const intermediate = new X509Certificate(ca.issuerChain);
  const root = new X509Certificate(ca.rootCert);

  t.equal(leaf.serialNumber, id.serial);
  t.match(id.serial, /^[0-9A-F]{32}$/, '16-byte positive serial');
  t.equal(leaf.fingerprint256, id.fingerprint256);
  t.equal(new Date(leaf.validTo).getTime(), id.notAfter.getTime());
  t.equal(new Date(leaf.validFrom).getTime(), id.notBefore.getTime());
  t.ok(id.notBefore.getTime() <= Date.now() - 59_000, 'notBefore is backdated for clock skew');
  t.equal(leaf.subjectAltName, 'DNS:api.test, IP Address:10.1.2.3, IP Address:0:0:0:0:0:0:0:1, URI:spiffe://test/api');
  t.same(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'EKU serverAuth');
  t.same(
    new X509Certificate((await ca.issueClient({ commonName: 'c' })).cert).keyUsage,
    ['1.3.6.1.5.5.7.3.2'],
    'EKU clientAuth',
  );
  t.equal(leaf.ca, false);
  t.equal(intermediate.ca, true);
  t.equal(root.ca, true);
  t.ok(leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey));
  t.ok(intermediate.checkIssued(root) && intermediate.verify(root.publicKey));
  t.ok(root.verify(root.publicKey), 'the root is self-signed');
  t.match(id.key, /^-----BEGIN PRIVATE KEY-----\n/, 'PKCS#8 PEM key');
  t.ok(leaf.checkPrivateKey(createPrivateKey(id.key)), 'the key belongs to the certificate');
});

t.test('a revoked certificate is rejected once node:tls has the CRLs', async (t) => {
  const ca = await DevelopmentCA.create();
  const server = await ca.issueServer({ commonName: 'localhost' });
  const good = await ca.issueClient({ commonName: 'alice' });
  const bad = await ca.issueClient({ commonName: 'mallory' });

  ca.revoke(bad.serial, 'keyCompromise');
  t.equal(ca.isRevoked(bad.serial), true);
  t.equal(ca.isRevoked(bad.serial.toLowerCase().match(/../g)!.join(':')), true, 'serials compare in any hex spelling');
  t.equal(ca.isRevoked(good.serial), false);

  // node:tls turns on CRL checking for the whole chain: the root's CRL is needed too.
  const crl = [await ca.crl(), await ca.rootCrl()];
  t.same(await handshake(t, ca, server, bad, { crl }), {
    authorized: false,
    authorizationError: 'CERT_REVOKED',
    peerCN: 'mallory',
    serverAuthorized: true,
  });
  t.equal((await handshake(t, ca, server, good, { crl })).authorized, true, 'others are unaffected');
  t.equal((await handshake(t, ca, server, bad)).authorized, true, 'without the CRL nothing knows');
});

t.test('CRL contents as OpenSSL reads them', async (t) => {
  const ca = await DevelopmentCA.create();
  const a = await ca.issueClient({ commonName: 'a' });
  const b = await ca.issueClient({ commonName: 'b' });
  ca.revoke(a.serial, 'superseded');
  ca.revoke(b.serial);

  const before = Date.now();
  const first = crlText(await ca.crl({ nextUpdateMs: 3_600_000 }));
  t.match(first, /Version 2/);
  t.match(first, /Issuer: CN = continuous-tls development CA [0-9a-f]{6} intermediate/);
  t.match(first, /X509v3 Authority Key Identifier:/);
  t.match(first, /X509v3 CRL Number: \n\s+1\n/);
  t.match(first, new RegExp(`Serial Number: ${a.serial}[\\s\\S]*?Superseded`));
  t.match(first, new RegExp(`Serial Number: ${b.serial}`));
  const next = /Next Update: (.+)/.exec(first)?.[1];
  const nextMs = Date.parse(next ?? '');
  t.ok(Math.abs(nextMs - (before + 3_600_000)) < 2_000, `nextUpdate ${next} is an hour out`);

  t.match(crlText(await ca.crl()), /X509v3 CRL Number: \n\s+2\n/, 'the CRL number increases per call');
  const numbers = await Promise.all([ca.crl(), ca.crl(), ca.crl()]);
  const seen = numbers.map((pem) => Number(/CRL Number: \n\s+(\d+)/.exec(crlText(pem))?.[1]));
  t.same([...seen].sort(), [3, 4, 5], 'concurrent calls get distinct numbers');

  const root = crlText(await ca.rootCrl());
  t.match(root, /No Revoked Certificates/);
  t.match(root, /X509v3 CRL Number: \n\s+1\n/, 'the root keeps its own sequence');
});

t.test('a CRL past its nextUpdate is refused by node:tls', async (t) => {
  const ca = await DevelopmentCA.create();
  const server = await ca.issueServer({ commonName: 'localhost' });
  const client = await ca.issueClient({ commonName: 'alice' });
  const hourAgo = new Date(Date.now() - 3_600_000);
  const stale = await ca.crl({ thisUpdate: new Date(hourAgo.getTime() - 3_600_000), nextUpdateMs: 3_600_000 });
  t.match(crlText(stale), /Next Update: /);
  const outcome = await handshake(t, ca, server, client, { crl: [stale, await ca.rootCrl()] });
  t.equal(outcome.authorizationError, 'CRL_HAS_EXPIRED');
});

t.test('a 2-second certificate expires while the test waits', async (t) => {
  const ca = await DevelopmentCA.create();
  const server = await ca.issueServer({ commonName: 'localhost' });
  const client = await ca.issueClient({ commonName: 'brief', validityMs: 2_000 });
  const validTo = new Date(new X509Certificate(client.cert).validTo).getTime();
  t.equal(validTo, client.notAfter.getTime());
  t.ok(validTo - Date.now() <= 2_000 && validTo - Date.now() > 0, 'expires within 2 s');

  t.equal((await handshake(t, ca, server, client)).authorized, true, 'valid now');
  // X.509 times have whole seconds and OpenSSL treats notAfter as inclusive: wait past it.
  await delay(validTo + 1_000 - Date.now() + 100);
  t.equal((await handshake(t, ca, server, client)).authorizationError, 'CERT_HAS_EXPIRED');
});

t.test('an explicit notBefore in the past makes an already expired certificate', async (t) => {
  const ca = await DevelopmentCA.create();
  const old = await ca.issueClient({
    commonName: 'old',
    notBefore: new Date('2020-01-01T00:00:00Z'),
    validityMs: 86_400_000,
  });
  t.equal(old.notAfter.toISOString(), '2020-01-02T00:00:00.000Z');
  const server = await ca.issueServer({ commonName: 'localhost' });
  t.equal((await handshake(t, ca, server, old)).authorizationError, 'CERT_HAS_EXPIRED');
});

t.test('bad options throw ERR_CTLS_INVALID_OPTION naming the option', async (t) => {
  const ca = await DevelopmentCA.create({ intermediate: false });
  const invalid = (name: string) => ({ code: 'ERR_CTLS_INVALID_OPTION', message: new RegExp(`"${name}"`) });
  await t.rejects(DevelopmentCA.create({ keyType: 'dsa' as 'ec' }), invalid('keyType'));
  await t.rejects(DevelopmentCA.create({ validityMs: 0 }), invalid('validityMs'));
  await t.rejects(ca.issueClient({ commonName: '' }), invalid('commonName'));
  await t.rejects(
    ca.issueClient({ commonName: 'x', altNames: 'localhost' as unknown as string[] }),
    invalid('altNames'),
  );
  await t.rejects(ca.issueClient({ commonName: 'x', notBefore: new Date('nope') }), invalid('notBefore'));
  await t.rejects(ca.issueClient({ commonName: 'x', notBefore: new Date(), validityMs: 500 }), invalid('validityMs'));
  await t.rejects(ca.crl({ nextUpdateMs: -1 }), invalid('nextUpdateMs'));
  t.throws(() => ca.revoke('not hex'), invalid('serial'));
  t.throws(() => ca.revoke('01', 'because' as 'unspecified'), invalid('reason'));
});

t.test('subject attributes beside CN appear in the certificate, in DN order', async (t) => {
  const ca = await DevelopmentCA.create();
  const id = await ca.issueClient({
    commonName: 'alice',
    subject: { O: 'Example', OU: ['Payments', 'EU'], C: 'SE', ST: 'Stockholm', L: 'Solna' },
  });
  const leaf = new X509Certificate(id.cert);
  t.equal(leaf.subject, 'C=SE\nST=Stockholm\nL=Solna\nO=Example\nOU=Payments\nOU=EU\nCN=alice');
  t.ok(leaf.subject.split('\n').includes('O=Example'), "what the docs' policies match");
  const dc = new X509Certificate(
    (await ca.issueServer({ commonName: 'api', subject: { DC: ['com', 'example'] } })).cert,
  );
  t.equal(dc.subject, 'DC=com\nDC=example\nCN=api');
  t.equal(
    new X509Certificate((await ca.issueClient({ commonName: 'bob' })).cert).subject,
    'CN=bob',
    'CN alone by default',
  );
  // A common name that looks like hex or a quoted string is encoded as given, not decoded.
  const cn = async (commonName: string) =>
    new X509Certificate((await ca.issueClient({ commonName })).cert).toLegacyObject().subject.CN;
  t.equal(await cn('#0c03616263'), '#0c03616263');
  t.equal(await cn('Zoë "z"'), 'Zoë "z"');
  // It still verifies for mTLS in node:tls.
  const server = await ca.issueServer({ commonName: 'localhost', subject: { O: 'Example' } });
  t.equal((await handshake(t, ca, server, id)).peerCN, 'alice');
});

t.test('bad subject attributes are refused with ERR_CTLS_INVALID_OPTION naming the attribute', async (t) => {
  const ca = await DevelopmentCA.create({ intermediate: false });
  const invalid = (name: string) => ({
    code: 'ERR_CTLS_INVALID_OPTION',
    message: new RegExp(`"${name.replace(/[[\]]/g, '\\$&')}"`),
  });
  const issue = (subject: unknown) => ca.issueClient({ commonName: 'x', subject: subject as { O: string } });
  await t.rejects(issue('O=Example'), invalid('subject'), 'not an object');
  await t.rejects(issue(['O']), invalid('subject'));
  await t.rejects(issue(null), invalid('subject'));
  await t.rejects(issue({ CN: 'y' }), { message: /commonName option/ }, 'CN has its own option');
  await t.rejects(issue({ EMAIL: 'a@b' }), invalid('subject.EMAIL'), 'unknown attribute type');
  await t.rejects(issue({ O: 'Evil\nO=Payments' }), invalid('subject.O'), 'no control characters');
  await t.rejects(issue({ O: '#0c03616263' }), invalid('subject.O'), 'no hex form');
  await t.rejects(issue({ O: '"quoted"' }), invalid('subject.O'));
  await t.rejects(issue({ O: 'Zoë' }), invalid('subject.O'), 'PrintableString only');
  await t.rejects(issue({ O: '' }), invalid('subject.O'));
  await t.rejects(issue({ O: 'x'.repeat(65) }), invalid('subject.O'), 'ub-organization-name');
  await t.rejects(issue({ O: 7 }), invalid('subject.O'));
  await t.rejects(issue({ OU: [] }), invalid('subject.OU'));
  await t.rejects(issue({ OU: ['ok', 5] }), invalid('subject.OU[1]'));
  await t.rejects(issue({ C: 'se' }), invalid('subject.C'));
  await t.rejects(issue({ C: 'SWE' }), invalid('subject.C'));
  await t.rejects(issue({ C: ['SE'] }), invalid('subject.C'), 'C is not repeatable');
  await t.rejects(issue({ ST: ['a', 'b'] }), invalid('subject.ST'));
});

t.test("a CA common name with DN special characters ('#', quotes, ',') is encoded as written", async (t) => {
  for (const commonName of ['#Hash CA', '"Quoted" CA', 'A, B + C CA']) {
    const ca = await DevelopmentCA.create({ commonName });
    const root = new X509Certificate(ca.rootCert);
    const leaf = await ca.issueClient({ commonName: 'alice' });
    const issuer = new X509Certificate(ca.issuerChain);
    t.ok(root.subject.includes(commonName.replace(/[#",+]/g, (c) => `\\${c}`)), `root subject ${root.subject}`);
    t.ok(issuer.checkIssued(root) && new X509Certificate(leaf.cert).checkIssued(issuer), 'the chain links by name');
  }
});
