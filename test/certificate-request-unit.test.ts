// A certificate request on its own, over a stand-in for the native connection: concurrent callers
// share one request, its answer is adopted before the hold is released and the callers resolve,
// an unanswered request times out with ERR_CTLS_REAUTH_TIMEOUT, and what the addon refuses comes
// back coded.
import t from 'tap';
import { CertificateRequests, type CertificateRequestHost } from '../dist/tls/certificate-request.js';
import { kEngineRequest } from '../dist/tls/socket.js';
import type { NativeTlsConnection } from '../dist/tls/native.js';
import type { PeerCertificateResult } from '../dist/tls/peer-certificate.js';

function fakeHandle(requestCertificate: () => Buffer | null): NativeTlsConnection {
  return { requestCertificate } as unknown as NativeTlsConnection;
}

function recordingHost(): {
  host: CertificateRequestHost;
  events: string[];
  timeouts: Array<Error & { code?: string }>;
} {
  const events: string[] = [];
  const timeouts: Array<Error & { code?: string }> = [];
  const host: CertificateRequestHost = {
    hold: () => events.push('hold'),
    release: () => events.push('release'),
    send: (request) => events.push(`send ${String(request)}`),
    timedOut: (error) => timeouts.push(error),
    adopt: (_result, outsideEngine) => events.push(`adopt outsideEngine=${outsideEngine}`),
  };
  return { host, events, timeouts };
}

const answer: PeerCertificateResult = { chain: [], der: [], verified: false, verifyError: 'NO_PEER_CERTIFICATE' };

t.test('concurrent callers share one request; the answer is adopted, then released, then resolved', async (t) => {
  const { host, events } = recordingHost();
  const requests = new CertificateRequests(host);
  let sent = 0;
  const handle = fakeHandle(() => {
    sent++;
    return Buffer.from('request');
  });
  const first = requests.request(handle, { timeout: 5_000, [kEngineRequest]: true });
  t.ok(requests.outstanding);
  const second = requests.request(handle, { timeout: 5_000 });
  t.equal(first, second, 'the second caller joins the first request');
  t.equal(sent, 1, 'one request goes to the peer');
  let resolved = false;
  void first.then(() => events.push('resolved'));
  void first.then(() => (resolved = true));
  requests.complete(answer);
  t.notOk(requests.outstanding);
  t.equal(await first, answer);
  t.ok(resolved);
  t.same(
    events,
    ['hold', 'send request', 'adopt outsideEngine=true', 'release', 'resolved'],
    'an engine request joined by anybody else is reported to the engine',
  );
});

t.test("the engine's own request is adopted without a report", async (t) => {
  const { host, events } = recordingHost();
  const requests = new CertificateRequests(host);
  const pending = requests.request(
    fakeHandle(() => null),
    { [kEngineRequest]: true },
  );
  requests.complete(answer);
  await pending;
  t.same(events, ['hold', 'send null', 'adopt outsideEngine=false', 'release']);
});

t.test('an unanswered request times out; the connection going rejects the callers', async (t) => {
  const { host, timeouts } = recordingHost();
  const requests = new CertificateRequests(host);
  const pending = requests.request(
    fakeHandle(() => null),
    { timeout: 20 },
  );
  await new Promise((resolve) => setTimeout(resolve, 60));
  t.equal(timeouts.length, 1);
  t.equal(timeouts[0]!.code, 'ERR_CTLS_REAUTH_TIMEOUT');
  const timeout = timeouts[0]!;
  requests.abandon(timeout);
  await t.rejects(pending, { code: 'ERR_CTLS_REAUTH_TIMEOUT' });
  t.notOk(requests.outstanding);
  const next = requests.request(fakeHandle(() => null));
  requests.abandon(null);
  await t.rejects(next, { code: 'ERR_CTLS_SOCKET_CLOSED' });
});

t.test('refusals come back coded, and nothing is held', async (t) => {
  const { host, events } = recordingHost();
  const requests = new CertificateRequests(host);
  const busy = fakeHandle(() => {
    throw Object.assign(new Error('a certificate request is already outstanding'), {
      code: 'ERR_CTLS_REAUTH_IN_PROGRESS',
    });
  });
  await t.rejects(requests.request(busy), { code: 'ERR_CTLS_REAUTH_IN_PROGRESS' });
  await t.rejects(requests.request(null), { code: 'ERR_CTLS_SOCKET_CLOSED' });
  for (const timeout of [0, -1, Infinity, '5']) {
    await t.rejects(
      requests.request(
        fakeHandle(() => null),
        { timeout: timeout as number },
      ),
      { code: 'ERR_CTLS_INVALID_OPTION' },
    );
  }
  t.same(events, []);
  t.notOk(requests.outstanding);
});
