// The record of node:tls contexts' CAs that REST verifies a client's chain under
// (lib/http/node-context-cas.ts): what it keeps, what it refuses to guess, and that ES modules
// which imported createSecureContext by name go through it too.
import t from 'tap';
import * as tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { nodeContextTrust } from '../dist/http/node-context-cas.js';

const nodeContextCas = (context: object): string | undefined => nodeContextTrust(context)?.ca.join('\n');
import { certs } from './helpers/certs';

const native = (context: tls.SecureContext): object => (context as unknown as { context: object }).context;

t.test('the ca option a context was made with is kept, item by item, as PEM text in order', async (t) => {
  const one = tls.createSecureContext({ ca: certs.ca });
  t.equal(nodeContextCas(native(one)), certs.ca, 'a string');
  const two = tls.createSecureContext({ ca: [Buffer.from(certs.ca), certs.intermediate] });
  t.equal(nodeContextCas(native(two)), `${certs.ca}\n${certs.intermediate}`, 'a list of a Buffer and a string');
});

t.test('nothing is kept where the ca option is not the whole store', async (t) => {
  const none = tls.createSecureContext({ key: certs.serverKey, cert: certs.serverChain });
  t.equal(nodeContextCas(native(none)), undefined, 'no ca: node default roots');
  const empty = tls.createSecureContext({ ca: [] });
  t.equal(nodeContextCas(native(empty)), undefined, 'an empty list');
  t.equal(nodeContextCas({}), undefined, 'an object that is no context');
});

t.test('a server made after loading has its default and its addContext() contexts recorded', async (t) => {
  const server = tls.createServer({ key: certs.serverKey, cert: certs.serverChain, ca: certs.ca });
  server.addContext('a.test', { key: certs.serverKey, cert: certs.serverChain, ca: certs.intermediate });
  const shared = (server as unknown as { _sharedCreds: tls.SecureContext })._sharedCreds;
  t.equal(nodeContextCas(native(shared)), certs.ca, 'the default context');
  const added = (server as unknown as { _contexts: Array<[RegExp, object]> })._contexts[0]![1];
  t.equal(nodeContextCas(added), certs.intermediate, 'the context addContext() made');
});

t.test('an ES module that imported createSecureContext by name is recorded too', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ctls-cas-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dist = (file: string): string => pathToFileURL(resolve(__dirname, '..', 'dist', file)).href;
  const script = join(dir, 'named.mjs');
  writeFileSync(
    script,
    [
      "import { createSecureContext } from 'node:tls';",
      `import '${dist('index.mjs')}';`,
      `import { nodeContextTrust } from '${dist('http/node-context-cas.js')}';`,
      `const ca = ${JSON.stringify(certs.ca)};`,
      'process.stdout.write(String(nodeContextTrust(createSecureContext({ ca }).context)?.ca[0] === ca));',
    ].join('\n'),
  );
  t.equal(execFileSync(process.execPath, [script], { encoding: 'utf8' }), 'true');
});
