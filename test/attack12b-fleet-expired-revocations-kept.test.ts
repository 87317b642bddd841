// Attack: a certificate revocation carries `expiresAt` (the certificate's notAfter), "after which
// the entry may be forgotten" (fleet/types.ts), and a subject revocation may carry one too. Past it
// the entry denies nothing, but nothing ever forgets it: the feed's publish script sweeps expired
// fields of the signals hash only (feed.ts, `rule == 'expire'`), FleetState prunes only signals, and
// FleetMember keeps every field in #fields to write back. Every revocation ever published (by an
// operator, by `revokeCertificate()` for each short-lived certificate a CA revokes, or by a CAEP
// transmitter's credential-change events) stays in Redis and in every member's memory for the
// life of the fleet, and is loaded again by every process that joins it: state that only grows.
//
// A correct library drops a revocation once its expiresAt has passed, in the feed and in each
// member (as it already does for signals), so the state is what is still revoked.
//
// Attack class: exhaustion (per-event state that never shrinks).
import t from 'tap';
import { Redis } from 'ioredis';
import { createFleet } from '../dist/index.js';
import { FEED_EXPIRY_GRACE_MS } from '../dist/fleet/feed.js';
import { haveRedis, startRedis } from './helpers/redis';

if (!haveRedis) t.plan(0, 'no redis-server');

t.test('expired certificate and subject revocations are forgotten', { timeout: 30_000 }, async (t) => {
  const redis = await startRedis(t);
  const name = 'expired-revocations';
  const fleet = await createFleet({ redis: redis.url, name, maxStaleness: 3_000 });
  t.teardown(() => fleet.close());
  // Expired for longer than the feed keeps an entry past its expiry (for members whose clocks run
  // behind Redis's), so the feed's sweep may drop them as soon as later events run it.
  const now = Date.now() - FEED_EXPIRY_GRACE_MS - 60_000;
  const COUNT = 40;
  for (let i = 0; i < COUNT; i++) {
    await fleet.revokeCertificate({ serial: (0x1000 + i).toString(16), expiresAt: now + 100 });
    await fleet.publish({
      type: 'subject-revoked',
      subject: { format: 'email', email: `user${i}@example.com` },
      before: now,
      expiresAt: now + 100,
    });
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  // Later events, each a chance to sweep what expired.
  await fleet.revokeCertificate({ serial: 'abcdef', expiresAt: Date.now() + 3_600_000 });
  await fleet.publish({
    type: 'signals',
    subject: { format: 'email', email: 'live@example.com' },
    signals: { device: { current_status: 'compliant' } },
  });

  const raw = new Redis(redis.url);
  t.teardown(() => raw.disconnect());
  const serials = await raw.hlen(`ctls:{${name}}:state:serials`);
  const subjects = await raw.hlen(`ctls:{${name}}:state:subjects`);
  t.ok(serials <= 1, `the feed keeps ${serials} serial revocations (${COUNT} of them expired)`);
  t.ok(subjects <= 1, `the feed keeps ${subjects} subject revocations (${COUNT} of them expired)`);
  const status = fleet.status();
  t.ok(status.revokedSerials <= 1, `the member holds ${status.revokedSerials} serial revocations`);
  t.ok(status.revokedSubjects <= 1, `the member holds ${status.revokedSubjects} subject revocations`);
});
