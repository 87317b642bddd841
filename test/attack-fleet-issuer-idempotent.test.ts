/**
 * Attack: normalizeIssuer() is not idempotent. An issuer in OpenSSL's slash form read from a file (a
 * trailing newline: `/CN=… CA\n`) is stored on the feed's snapshot as `/CN=… CA`, but every live
 * member re-normalises the entry it reads into `CN=… CA`. Live members deny the certificate; a member
 * that joins later (or reloads the snapshot) holds the other spelling and admits it.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { createFleet } from '../dist/index.js';
import { haveRedis, startRedis } from './helpers/redis';
import { facts, fakeTarget } from './helpers/fake-guard-host';
import { certs } from './helpers/certs';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test('a late joiner holds the same revocations as the live members', { timeout: 20_000 }, async (t) => {
  const redis = await startRedis(t);
  const live = await createFleet({ redis: redis.url, name: 'spelling' });
  t.teardown(() => live.close());
  const liveTarget = fakeTarget();
  live.watch(liveTarget.target);
  const leaf = new X509Certificate(certs.clientCert);
  const slashForm = `/${leaf.issuer.split('\n').join('/')}\n`; // as `openssl x509 -issuer -nameopt compat` writes it
  await live.revokeCertificate({ serial: leaf.serialNumber, issuer: slashForm });
  const peer = facts([certs.clientCert, certs.intermediate]);
  const atLive = liveTarget.host.judge(peer);

  const late = await createFleet({ redis: redis.url, name: 'spelling' });
  t.teardown(() => late.close());
  const lateTarget = fakeTarget();
  late.watch(lateTarget.target);
  t.same(lateTarget.host.judge(peer), atLive, `the late joiner judges as the live member (${JSON.stringify(atLive)})`);
});
