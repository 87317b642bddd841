// The live scenarios of issue 3, point 9, with real third-party peers on loopback: `openssl s_client
// -enable_pha` and a python3 ssl client with post_handshake_auth answer reauthorize({ fresh: true })
// while they stream, a revocation (setCrl) cuts s_client mid-stream, a ~2 s certificate expires under
// the python client, a policy that flips cuts it at the next re-check, and clients that do not offer
// post-handshake auth hit the fallback ('revalidate' allows, 'deny' cuts).
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  reauthorize,
  type AuthorizationInput,
  type Decision,
  type Server,
  type ServerOptions,
  type TLSSocket,
} from '../dist/index.js';
import type { IssuedIdentity } from '../dist/dev/pki.js';
import { opensslClient, pythonClient, type Peer, type PythonClient } from './helpers/peers';
import { closed, waitFor } from './helpers/owned';
import { Received, delay, makePki, mtlsOptions, startServer, type Pki } from './helpers/mtls';

interface Files {
  ca: string;
  leaf: string;
  key: string;
  /** leaf + intermediate, for python */
  chain: string;
  /** the intermediate alone, for s_client's -cert_chain */
  intermediates: string;
}

/** Writes an identity and the CA where the CLI peers can read them; removed on teardown. */
function writeFiles(t: Test, pki: Pki, identity: IssuedIdentity): Files {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctls-live-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string): string => {
    const full = path.join(dir, name);
    fs.writeFileSync(full, content);
    return full;
  };
  return {
    ca: file('ca.pem', pki.ca.rootCert),
    leaf: file('leaf.pem', identity.cert),
    key: file('key.pem', identity.key),
    chain: file('chain.pem', identity.chain),
    intermediates: file('intermediates.pem', pki.ca.issuerChain),
  };
}

function python(t: Test, port: number, files: Files, extra: string[] = []): PythonClient {
  const client = pythonClient('pha_client.py', [
    '--port',
    String(port),
    '--ca',
    files.ca,
    '--cert',
    files.chain,
    '--key',
    files.key,
    ...extra,
  ]);
  t.teardown(() => client.close());
  return client;
}

/** Feeds numbered lines to a peer's stdin every 10 ms; returns what was sent so far. */
function stream(t: Test, peer: Peer, label: string): { lines: string[]; stop(): void } {
  const lines: string[] = [];
  const timer = setInterval(() => {
    const line = `${label} ${lines.length}\n`;
    lines.push(line);
    peer.write(line);
  }, 10);
  t.teardown(() => clearInterval(timer));
  return { lines, stop: () => clearInterval(timer) };
}

async function serve(
  t: Test,
  pki: Pki,
  options: ServerOptions,
): Promise<{ server: Server; port: number; next(): Promise<TLSSocket> }> {
  const { server, port } = await startServer(t, mtlsOptions(pki, options));
  return { server, port, next: async () => (await waitFor<[TLSSocket]>(server, 'secureConnection'))[0] };
}

t.test('python3 with post_handshake_auth answers a fresh re-authentication while it streams', async (t) => {
  const pki = await makePki();
  const inputs: AuthorizationInput[] = [];
  let answeredAt = 0;
  const { port, next } = await serve(t, pki, {
    maxVersion: 'TLSv1.3',
    policyTimeout: 5_000,
    policy: async (input) => {
      inputs.push(input);
      if (input.trigger === 'manual') await delay(200);
      answeredAt = performance.now();
      return true;
    },
  });
  const accepted = next();
  const client = python(t, port, writeFiles(t, pki, pki.client));
  t.equal(await client.handshake(), 'localhost');
  const socket = await accepted;
  const deliveries: Array<{ at: number; text: string }> = [];
  socket.on('data', (chunk: Buffer) => deliveries.push({ at: performance.now(), text: chunk.toString() }));
  const sender = stream(t, client, 'py');
  await delay(100);

  const requestedAt = performance.now();
  const decision = await reauthorize(socket, { fresh: true, reason: 'step-up' });
  t.equal(decision.allow, true);
  t.equal(decision.source, 'engine');
  t.equal(decision.certificate?.serialNumber, pki.client.serial, "python's certificate, freshly presented");
  t.equal(inputs.at(-1)?.connection.reauthCount, 1, 'the policy saw a completed re-authentication');
  t.equal(
    deliveries.filter((d) => d.at >= requestedAt && d.at < answeredAt).length,
    0,
    'nothing delivered while the decision was pending',
  );

  await delay(100);
  sender.stop();
  const expected = sender.lines.join('');
  const until = Date.now() + 10_000;
  while (deliveries.map((d) => d.text).join('').length < expected.length && Date.now() < until) await delay(10);
  t.equal(deliveries.map((d) => d.text).join(''), expected, 'every streamed line arrived, in order');
  socket.write('bye from our server\n');
  await client.waitFor('bye from our server');
});

t.test(
  'openssl s_client -enable_pha answers a fresh re-authentication; a revocation then cuts it mid-stream',
  async (t) => {
    const pki = await makePki();
    const { server, port, next } = await serve(t, pki, { maxVersion: 'TLSv1.3', crl: await pki.ca.crls() });
    const files = writeFiles(t, pki, pki.client);
    const accepted = next();
    const client = opensslClient({
      port,
      servername: 'localhost',
      CAfile: files.ca,
      cert: files.leaf,
      key: files.key,
      certChain: files.intermediates,
      tls13: true,
      enablePha: true,
      msg: true,
    });
    t.teardown(() => client.close());
    await client.handshake();
    const socket = await accepted;
    const received = new Received(socket);

    const from = client.output.length;
    const decision = await reauthorize(socket, { fresh: true });
    t.equal(decision.allow, true);
    t.equal(decision.certificate?.serialNumber, pki.client.serial);
    await client.waitFor(/<<< TLS 1\.3, Handshake \[length [0-9a-f]+\], CertificateRequest/, undefined, from);
    t.match(
      client.output.slice(from),
      />>> TLS 1\.3, Handshake \[length [0-9a-f]+\], CertificateVerify/,
      's_client signed the fresh exchange',
    );

    const sender = stream(t, client, 'ossl');
    await received.until(100);
    pki.ca.revoke(pki.client.serial);
    const crl = await pki.ca.crls();
    const deauthorized = waitFor<[Decision]>(socket, 'deauthorized');
    const bytesAtSwap = received.bytes;
    await server.setCrl(crl);
    const [cut] = await deauthorized;
    await closed(socket);
    sender.stop();
    t.equal(cut.reason, 'CERT_REVOKED');
    t.equal(received.bytes, bytesAtSwap, 'not one byte delivered after the CRL swap');
    await client.exited;
    t.pass('s_client saw the connection end');
  },
);

t.test('a ~2 s certificate expires under the python client and the connection is cut at expiry', async (t) => {
  const pki = await makePki();
  const shortLived = await pki.ca.issueClient({ commonName: 'short', validityMs: 3_000 });
  const notAfter = shortLived.notAfter.getTime();
  const { port, next } = await serve(t, pki, { reauthorize: { every: 0, onExpiry: true } });
  const accepted = next();
  const client = python(t, port, writeFiles(t, pki, shortLived));
  await client.handshake();
  const socket = await accepted;
  const received = new Received(socket);
  stream(t, client, 'short');
  const [decision] = await waitFor<[Decision]>(socket, 'deauthorized', notAfter - Date.now() + 5_000);
  const cutAt = Date.now();
  t.equal(decision.trigger, 'expiry');
  t.equal(decision.reason, 'CERT_HAS_EXPIRED');
  t.ok(cutAt >= notAfter && cutAt <= notAfter + 1_500, `cut ${cutAt - notAfter} ms after notAfter`);
  t.ok(received.bytes > 0 && received.lastAt < notAfter, 'bytes flowed until just before the expiry, none after');
  await client.waitFor(/^CLOSED:/m);
  t.pass('python saw the cut');
});

t.test('a policy that flips to deny cuts the python client at the next re-check', async (t) => {
  const pki = await makePki();
  let allow = true;
  const { port, next } = await serve(t, pki, {
    policy: () => ({ allow, reason: allow ? 'ok' : 'flipped' }),
    reauthorize: { every: 250 },
  });
  const accepted = next();
  const client = python(t, port, writeFiles(t, pki, pki.client));
  await client.handshake();
  const socket = await accepted;
  const received = new Received(socket);
  stream(t, client, 'flip');
  await received.until(50);
  await delay(300);
  t.equal(socket.destroyed, false, 'alive through a re-check while allowed');
  allow = false;
  const flippedAt = Date.now();
  const [decision] = await waitFor<[Decision]>(socket, 'deauthorized', 5_000);
  t.equal(decision.trigger, 'interval');
  t.ok(Date.now() - flippedAt <= 250 + 500, 'at the next re-check');
  await client.waitFor(/^CLOSED:/m);
});

t.test('clients without post-handshake auth hit the fallback', async (t) => {
  const pki = await makePki();
  const { port, next } = await serve(t, pki, { maxVersion: 'TLSv1.3' });
  const files = writeFiles(t, pki, pki.client);

  t.test("python --no-pha, fallback 'revalidate': allowed on the handshake chain", async (t) => {
    const accepted = next();
    const client = python(t, port, files, ['--no-pha']);
    await client.handshake();
    const socket = await accepted;
    const decision = await reauthorize(socket, { fresh: true, fallback: 'revalidate' });
    t.equal(decision.allow, true);
    t.equal(decision.source, 'fallback');
    t.equal(decision.certificate?.serialNumber, pki.client.serial);
    const received = new Received(socket);
    client.write('still here\n');
    await received.until(11);
    t.equal(received.text(), 'still here\n');
  });

  t.test("python --no-pha, fallback 'deny': cut", async (t) => {
    const accepted = next();
    const client = python(t, port, files, ['--no-pha']);
    await client.handshake();
    const socket = await accepted;
    const decision = await reauthorize(socket, { fresh: true, fallback: 'deny' });
    t.equal(decision.allow, false);
    t.equal(decision.reason, 'fresh-unsupported');
    await client.waitFor(/^CLOSED:/m);
  });

  t.test("openssl s_client without -enable_pha, fallback 'deny': cut", async (t) => {
    const accepted = next();
    const client = opensslClient({
      port,
      servername: 'localhost',
      CAfile: files.ca,
      cert: files.leaf,
      key: files.key,
      certChain: files.intermediates,
      tls13: true,
    });
    t.teardown(() => client.close());
    await client.handshake();
    const socket = await accepted;
    const decision = await reauthorize(socket, { fresh: true, fallback: 'deny' });
    t.equal(decision.allow, false);
    t.equal(decision.reason, 'fresh-unsupported');
    t.equal((decision as Decision & { error?: { code?: string } }).error?.code, 'ERR_CTLS_FRESH_UNSUPPORTED');
    await client.exited;
  });
});
