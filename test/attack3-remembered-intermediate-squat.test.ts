// Attack (third outside review): a resumed session shows its leaf alone, and the owned tier
// re-verifies it with "remembered intermediates" (lib/tls/context.ts: verifyWithHorizon). That
// memory is one Map for the whole process (every server and client context), 256 entries, oldest
// dropped, keyed by the first 96 bytes of a certificate's DER plus its length, and it records
// every certificate after the leaf in any presented list that
// verified, including extras OpenSSL never used. A first insert wins: `has(key)` skips the rest.
// Any client with a valid certificate can therefore
//   1. push every remembered intermediate out, by presenting a few hundred extra certificates
//      alongside its own valid chain (OpenSSL ignores certificates that issue nothing), and
//   2. squat the real intermediate's key with a lookalike: the intermediate's DER with a byte
//      changed after offset 96 (here one letter of its subject), same length.
// From then on a legitimate client's full handshake no longer re-remembers the intermediate,
// and every resumed session under it fails verification (UNABLE_TO_GET_ISSUER_CERT_LOCALLY):
// the connection is refused, and the process's own outbound clients resuming to servers under
// that intermediate fail the same way. A denial of service across tenants that lasts until 256
// other intermediates arrive.
//
// Suggested fix: key by the whole DER (or its SHA-256) and refresh on every verified insert; keep
// only the certificates of the chain OpenSSL actually verified (SSL_get0_verified_chain), not
// every extra a peer sends; scope the memory per trust (SecureContext) and per leaf, as
// lib/http/verified-chains.ts does, so one peer cannot evict another's.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { createServer, connect, type TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { listen, waitFor, closed } from './helpers/owned';

function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function toPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

const [leafPem, intermediatePem] = pemBlocks(certs.clientChain) as [string, string];
const intermediate = new X509Certificate(intermediatePem);

/**
 * The intermediate's DER with one letter of its subject changed (so OpenSSL never takes it for an
 * issuer): same length, and the same first 96 bytes unless `variant` rewrites two serial bytes.
 */
function lookalike(variant?: number): string {
  const der = Buffer.from(intermediate.raw);
  const at = der.indexOf(Buffer.from('test intermediate CA'), 96);
  if (at < 96) throw new Error('the subject is not past the key prefix');
  der[at] = 'x'.charCodeAt(0);
  if (variant !== undefined) {
    // Inside the serial number (bytes 15 to 34 here): another key, still a certificate.
    der[30] = variant & 0xff;
    der[31] = (variant >> 8) & 0xff;
  }
  return toPem(der);
}

t.test('a squatter cannot keep a real intermediate from being remembered for resumptions', async (t) => {
  const server = createServer({
    key: certs.serverKey,
    cert: certs.serverChain,
    ca: certs.ca,
    requestCert: true,
    maxVersion: 'TLSv1.3',
  });
  let refusal = '';
  server.on('tlsClientError', (error: Error) => (refusal = error.message));
  const port = await listen(t, server);
  const base = { host: '127.0.0.1', port, servername: 'localhost', ca: certs.ca, key: certs.clientKey };

  const open = async (
    cert: string,
    session?: Buffer,
  ): Promise<{ client: TLSSocket; session: Buffer | null; ok: boolean; reused: boolean }> => {
    const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', 3000).then(
      ([s]) => s,
      () => null,
    );
    const client = connect({ ...base, cert, ...(session === undefined ? {} : { session }) });
    client.on('error', () => {});
    t.teardown(() => client.destroy());
    let got: Buffer | null = null;
    client.on('session', (s: Buffer) => (got = s));
    const socket = await accepted;
    await new Promise((resolve) => setTimeout(resolve, 100));
    return { client, session: got, ok: socket !== null, reused: socket?.isSessionReused() ?? false };
  };

  // 1. The attacker (any client with a valid certificate) presents its chain with an extra certificate.
  // Two handshakes: 2 x 130 distinct lookalikes push every remembered intermediate out (256 kept),
  // then the squatter takes the real intermediate's key. The leaf's own chain is valid throughout.
  for (let round = 0; round < 2; round++) {
    const junk = Array.from({ length: 130 }, (_, i) => lookalike(round * 130 + i + 1));
    const last = round === 1 ? [lookalike()] : [];
    const attacker = await open([leafPem, ...junk, ...last, intermediatePem].join('\n'));
    t.equal(attacker.ok, true, `the attacker's handshake ${round + 1} verifies (OpenSSL ignores the extras)`);
    attacker.client.destroy();
  }
  // 2. A legitimate client: a full handshake, then a resumption of its session.
  const first = await open(certs.clientChain);
  t.equal(first.ok, true, 'the full handshake is authorized');
  t.ok(first.session !== null, 'it got a session');
  first.client.end();
  await closed(first.client);
  const second = await open(certs.clientChain, first.session!);
  t.equal(second.ok, true, `the resumed session is authorized ${refusal}`);
  t.equal(second.reused, true, 'and was a resumption');
});
