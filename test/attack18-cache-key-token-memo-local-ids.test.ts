// Attack (cache key, commit 28baa88): a DecisionCache's own keys (processCacheKey) spell every
// certificate as a base-36 id local to this process; defaultCacheKey "keeps the fingerprint, for
// caches an app keeps itself". The module-level flag `localCertIds` selects the spelling and is
// saved/restored around each key, but tokenKey() memoizes the hash of a token's claims per claims
// object (tokenKeys, a WeakMap) whichever spelling built it. A token first keyed by a DecisionCache
// is then spelled, in every later defaultCacheKey, with the process-local id of the certificate it
// holds: the public key of an input depends on what a cache did before, and on the id counter of
// the process that built it. Two processes (here: two worker threads, each with its own module
// instance) that key tokens naming two different certificates give them the same defaultCacheKey,
// so a cache an app shares between its workers (the documented use of defaultCacheKey) serves one
// certificate's verdict to the holder of another.
//
// A correct library spells certificates in defaultCacheKey as fingerprints whatever was keyed
// before: the memo is per spelling (or not shared), so the keys below differ.
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { DecisionCache } from '../dist/policy/cache.js';
import { defaultCacheKey } from '../dist/policy/cache-key.js';
import { certs } from './helpers/certs';
import { certInput } from './helpers/policy-input';

const FACTS = ['request.method'];

t.test('defaultCacheKey does not depend on a DecisionCache having keyed the token first', async (t) => {
  const fresh = certInput(certs.serverCert, 'GET', '/', { token: { cnf: new X509Certificate(certs.client2Cert) } });
  const before = defaultCacheKey(fresh, FACTS);
  const same = certInput(certs.serverCert, 'GET', '/', { token: { cnf: new X509Certificate(certs.client2Cert) } });
  const cache = new DecisionCache();
  cache.facts = FACTS;
  t.ok(cache.key(same), 'the cache keys the input');
  t.equal(defaultCacheKey(same, FACTS), before, 'the same claims give the same public key');
});

/** In a fresh module instance: key `input` through a DecisionCache, then defaultCacheKey it. */
function keyInWorker(leafPem: string, tokenCertPem: string): Promise<string> {
  const dist = join(__dirname, '..', 'dist', 'policy');
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { X509Certificate } = require('node:crypto');
    const { DecisionCache } = require(${JSON.stringify(join(dist, 'cache.js'))});
    const { defaultCacheKey } = require(${JSON.stringify(join(dist, 'cache-key.js'))});
    const leaf = new X509Certificate(workerData.leaf);
    const input = {
      trigger: 'request',
      peer: { certificate: leaf, chain: [leaf], verified: true },
      connection: { ageMs: 0, reauthCount: 0, remoteAddress: '127.0.0.1', protocol: 'TLSv1.3' },
      request: { method: 'GET', path: '/', headers: {} },
      token: { cnf: new X509Certificate(workerData.tokenCert) },
      context: {},
    };
    const cache = new DecisionCache();
    cache.facts = ['request.method'];
    cache.key(input);
    parentPort.postMessage(defaultCacheKey(input, ['request.method']));
  `;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { leaf: leafPem, tokenCert: tokenCertPem } });
    w.once('message', (m: string) => {
      resolve(m);
      void w.terminate();
    });
    w.once('error', reject);
  });
}

t.test('two processes never give tokens naming different certificates one public key', async (t) => {
  const [a, b] = await Promise.all([
    keyInWorker(certs.serverCert, certs.clientCert),
    keyInWorker(certs.serverCert, certs.client2Cert),
  ]);
  t.not(a, b, "a token naming client2's certificate never shares the key of one naming client's");
});
