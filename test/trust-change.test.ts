// Trust changes re-decide every live connection at once: setCrl revoking a client mid-stream cuts it
// with no byte delivered after the call, setCa to another CA cuts everyone, setPolicy(deny) cuts; a CRL
// file source reloads on change and keeps the previous list when the new file does not parse; and
// revocation 'strict' / 'best-effort' decide what a CRL past its nextUpdate means.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DevelopmentCA } from '../dist/dev/pki.js';
import { connect, reauthorize, type Decision } from '../dist/index.js';
import { closed, waitFor } from './helpers/owned';
import { codeOf, connectPair, delay, makePki, mtlsOptions, type Pair, Received, startServer } from './helpers/mtls';

/** Writes a line every 5 ms until the socket closes. */
function keepWriting(t: Test, pair: Pair, label: string): void {
  let n = 0;
  const timer = setInterval(() => {
    if (pair.client.destroyed) clearInterval(timer);
    else pair.client.write(`${label} ${n++}\n`);
  }, 5);
  t.teardown(() => clearInterval(timer));
}

function tempDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctls-crl-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A CRL whose nextUpdate is the whole second at least `ms` from now (returned too). */
async function crlExpiringIn(ca: DevelopmentCA, ms: number): Promise<{ pem: string; nextUpdate: number }> {
  const nextUpdate = Math.ceil((Date.now() + ms) / 1000) * 1000;
  const pem = await ca.crls({ thisUpdate: new Date(nextUpdate - 61_000), nextUpdateMs: 61_000 });
  return { pem, nextUpdate };
}

t.test('setCrl revoking a client mid-stream cuts it; no byte is delivered after the call', async (t) => {
  const pki = await makePki();
  const bob = await pki.ca.issueClient({ commonName: 'bob' });
  const { server, port } = await startServer(t, mtlsOptions(pki, { crl: await pki.ca.crls() }));
  const alice = await connectPair(t, server, port, pki);
  const other = await connectPair(t, server, port, pki, bob);
  const atAlice = new Received(alice.socket);
  const atBob = new Received(other.socket);
  keepWriting(t, alice, 'alice');
  keepWriting(t, other, 'bob');
  await atAlice.until(200);
  await atBob.until(200);

  pki.ca.revoke(pki.client.serial);
  const crl = await pki.ca.crls();
  const deauthorized = waitFor<[Decision]>(alice.socket, 'deauthorized');
  const bytesAtCall = atAlice.bytes;
  const update = server.setCrl(crl);
  const decisions = await update;
  const [decision] = await deauthorized;
  await closed(alice.socket);
  await closed(alice.client);

  t.equal(atAlice.bytes, bytesAtCall, 'not one byte of the revoked client delivered after setCrl() was called');
  t.equal(decisions.length, 2, 'both live connections were re-decided');
  t.equal(decision.allow, false);
  t.equal(decision.trigger, 'revocation');
  t.equal(decision.reason, 'CERT_REVOKED');
  t.equal(codeOf(alice.socket.destroyReason), 'ERR_CTLS_DEAUTHORIZED');

  const bobBefore = atBob.bytes;
  await atBob.until(bobBefore + 100);
  t.equal(other.socket.destroyed, false, 'the client that was not revoked keeps streaming');
  t.equal(decisions.filter((d) => d.allow).length, 1);
});

t.test('setCa to another CA cuts everyone', async (t) => {
  const pki = await makePki();
  const bob = await pki.ca.issueClient({ commonName: 'bob' });
  const { server, port } = await startServer(t, mtlsOptions(pki));
  const pairs = [await connectPair(t, server, port, pki), await connectPair(t, server, port, pki, bob)];
  const other = await DevelopmentCA.create();

  const decisions = await server.setCa(other.rootCert);
  t.equal(decisions.length, 2);
  t.ok(
    decisions.every((d) => !d.allow && d.trigger === 'revocation' && d.source === 'verification'),
    'both denied by chain verification',
  );
  t.match(decisions[0]!.reason, /ISSUER/, `reason ${decisions[0]!.reason}`);
  for (const pair of pairs) {
    await closed(pair.socket);
    await closed(pair.client);
    t.equal(codeOf(pair.socket.destroyReason), 'ERR_CTLS_DEAUTHORIZED');
  }
  t.same(server.connections(), [], 'no live connection left');
});

t.test('setPolicy(deny) cuts every connection', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki, { policy: () => true }));
  const pairs = [await connectPair(t, server, port, pki), await connectPair(t, server, port, pki)];
  const received = pairs.map((pair) => new Received(pair.socket));
  const events: Decision[] = [];
  for (const pair of pairs) pair.socket.on('deauthorized', (d: Decision) => events.push(d));

  const decisions = await server.setPolicy(() => ({ allow: false, reason: 'maintenance' }));
  for (const pair of pairs) pair.client.write('too late');
  t.same(
    decisions.map((d) => [d.allow, d.trigger, d.reason]),
    [
      [false, 'policy-change', 'maintenance'],
      [false, 'policy-change', 'maintenance'],
    ],
  );
  t.equal(events.length, 2);
  for (const pair of pairs) await closed(pair.socket);
  t.same(
    received.map((r) => r.bytes),
    [0, 0],
  );
});

t.test('a watched CRL file reloads on change and cuts a newly revoked client', async (t) => {
  const pki = await makePki();
  const file = path.join(tempDir(t), 'crl.pem');
  fs.writeFileSync(file, await pki.ca.crls());
  const { server, port } = await startServer(t, mtlsOptions(pki, { crl: { file, watch: true, interval: 100 } }));
  const { socket, client } = await connectPair(t, server, port, pki);
  const received = new Received(socket);
  client.write('hello');
  await received.until(5);

  pki.ca.revoke(pki.client.serial);
  const deauthorized = waitFor<[Decision]>(socket, 'deauthorized', 10_000);
  const writtenAt = Date.now();
  fs.writeFileSync(file, await pki.ca.crls());
  const [decision] = await deauthorized;
  const after = Date.now() - writtenAt;
  t.equal(decision.reason, 'CERT_REVOKED');
  t.equal(decision.trigger, 'revocation');
  t.ok(after < 5_000, `cut ${after} ms after the file changed`);
  await closed(client);
});

t.test('an unparsable CRL file emits ERR_CTLS_CRL_LOAD and keeps the previous list', async (t) => {
  const pki = await makePki();
  const bob = await pki.ca.issueClient({ commonName: 'bob' });
  pki.ca.revoke(bob.serial);
  const file = path.join(tempDir(t), 'crl.pem');
  fs.writeFileSync(file, await pki.ca.crls());
  const { server, port } = await startServer(t, mtlsOptions(pki, { crl: { file, watch: true, interval: 100 } }));
  const errors: Array<Error & { code?: string }> = [];
  server.on('error', (error: Error) => errors.push(error));
  const { socket, client } = await connectPair(t, server, port, pki);
  const before = server.secureContext.crls;

  const error = waitFor<[Error & { code?: string }]>(server, 'error', 10_000);
  fs.writeFileSync(file, '-----BEGIN X509 CRL-----\nnot a crl at all\n-----END X509 CRL-----\n');
  const [err] = await error;
  t.equal(err.code, 'ERR_CTLS_CRL_LOAD');
  t.match(err.message, /previous CRL stays in force/);
  t.equal(server.secureContext.crls, before, 'the CRLs in force did not change');
  t.same(server.secureContext.crls[0]?.revoked, [bob.serial], "bob's revocation is still known");

  const received = new Received(socket);
  client.write('still alive');
  await received.until(11);
  t.equal(socket.destroyed, false, 'the connection survives the bad file');
  t.ok((await reauthorize(socket)).allow);
  t.equal(errors.length, 1, 'one error for one bad write');

  // And the revoked client is still refused under the kept list.
  const refused = waitFor(server, 'tlsClientError');
  const bad = (await import('../dist/index.js')).connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.rootCert,
    key: bob.key,
    cert: bob.chain,
  });
  bad.on('error', () => {});
  t.teardown(() => bad.destroy());
  await refused;
  await closed(bad);
});

t.test("revocation 'strict': a CRL past its nextUpdate denies with crl-stale", async (t) => {
  const pki = await makePki();
  const { pem, nextUpdate } = await crlExpiringIn(pki.ca, 1_500);
  const { server, port } = await startServer(
    t,
    mtlsOptions(pki, { crl: pem, revocation: 'strict', reauthorize: { every: 0 } }),
  );
  const { socket, client } = await connectPair(t, server, port, pki);
  t.equal(socket.decision?.expiresAt, nextUpdate, 'under strict revocation the decision lapses with the CRL');

  const [decision] = await waitFor<[Decision]>(socket, 'deauthorized', nextUpdate - Date.now() + 5_000);
  t.ok(Date.now() >= nextUpdate, 'not before nextUpdate');
  t.equal(decision.allow, false);
  t.equal(decision.reason, 'crl-stale');
  await closed(client);

  const refused = waitFor(server, 'tlsClientError');
  const late = (await import('../dist/index.js')).connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.rootCert,
    key: pki.client.key,
    cert: pki.client.chain,
  });
  late.on('error', () => {});
  t.teardown(() => late.destroy());
  await refused;
  t.pass('a new handshake is refused too');
});

t.test("revocation 'best-effort': a stale CRL still counts, with an ERR_CTLS_CRL_STALE warning", async (t) => {
  const pki = await makePki();
  const bob = await pki.ca.issueClient({ commonName: 'bob' });
  const { server, port } = await startServer(t, mtlsOptions(pki, { reauthorize: { every: 0 } }));
  const alice = await connectPair(t, server, port, pki);
  const bobPair = await connectPair(t, server, port, pki, bob);
  pki.ca.revoke(bob.serial);
  const { pem, nextUpdate } = await crlExpiringIn(pki.ca, 1_000);
  // Installed on the context itself: its connections are re-decided all the same.
  const bobCut = waitFor<[Decision]>(bobPair.socket, 'deauthorized');
  server.secureContext.setCrl(pem);
  t.equal((await bobCut)[0].reason, 'CERT_REVOKED', 'a change on the context re-decides its connections');
  t.equal(server.secureContext.revocation, 'best-effort', 'the default');
  await delay(nextUpdate - Date.now() + 100);

  const warning = waitFor<[Error & { code?: string }]>(server, 'warning');
  const decision = await reauthorize(alice.socket);
  const [warned] = await warning;
  t.equal(decision.allow, true, 'a good client is still allowed');
  t.equal(warned.code, 'ERR_CTLS_CRL_STALE');
  t.equal(alice.socket.destroyed, false);

  const refused = waitFor<[Error & { reason?: string; verifyError?: string }]>(server, 'tlsClientError');
  const bobAgain = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca.rootCert,
    key: bob.key,
    cert: bob.chain,
  });
  bobAgain.on('error', () => {});
  t.teardown(() => bobAgain.destroy());
  t.equal((await refused)[0].verifyError, 'CERT_REVOKED', 'the last known list still revokes');

  const fresh = await connectPair(t, server, port, pki);
  t.equal(fresh.socket.decision?.allow, true, 'new handshakes are accepted with the stale list');
});
