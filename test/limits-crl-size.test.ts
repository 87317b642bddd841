// A CRL with a million entries (CTLS_CRL_ENTRIES changes the count) given to setCrl: revocation is
// still enforced by OpenSSL's store, in verifyChain and in live handshakes, while the JS heap does not
// grow with the list, because the serials are read into JS strings only when crls[i].revoked is read.
// The time and RSS of the swap are reported as comments.
import t from 'tap';
import { X509Certificate, createPrivateKey, sign } from 'node:crypto';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { createServer, connect, createSecureContext, type TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { listen, waitFor, pemChain, SOON } from './helpers/owned';

const ENTRIES = Number(process.env.CTLS_CRL_ENTRIES ?? 1_000_000);
const MiB = 1024 * 1024;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);

/** Start of the value and end of the TLV at `at`. */
function readTlv(der: Buffer, at: number): { start: number; value: number; end: number } {
  let length = der[at + 1]!;
  let value = at + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    length = der.readUIntBE(value, count);
    value += count;
  }
  return { start: at, value, end: value + length };
}

/** The DER of a certificate's subject Name (RFC 5280 section 4.1: TBSCertificate's sixth field). */
function subjectDer(pem: string): Buffer {
  const der = new X509Certificate(pem).raw;
  const tbs = readTlv(der, readTlv(der, 0).value);
  const fields = [];
  for (let at = tbs.value; at < tbs.end && fields.length < 6; at = fields.at(-1)!.end) fields.push(readTlv(der, at));
  const subject = fields[5]!; // [0] version, serial, signature, issuer, validity, subject
  return der.subarray(subject.start, subject.end);
}

const utcTime = (date: Date): Buffer =>
  tlv(0x17, Buffer.from(date.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z'));

/**
 * A v2 CRL (RFC 5280 section 5.1) of the fixture intermediate, signed with its ECDSA key, listing
 * `count` made-up serials and then `serials`. Written by hand: a generic ASN.1 library takes minutes
 * for a million entries.
 */
function bigCrl(count: number, serials: string[]): string {
  const revokedAt = utcTime(new Date(Date.now() - 60_000));
  const entryLength = 2 + 10 + revokedAt.length;
  const entries = Buffer.alloc(count * entryLength);
  for (let i = 0, at = 0; i < count; i++, at += entryLength) {
    entries[at] = 0x30;
    entries[at + 1] = entryLength - 2;
    entries[at + 2] = 0x02; // INTEGER, 8 bytes, positive, never one of the fixtures' 16-byte serials
    entries[at + 3] = 8;
    entries[at + 4] = 0x7f;
    entries.writeUIntBE(i, at + 5, 6);
    entries[at + 11] = 0x5a;
    revokedAt.copy(entries, at + 12);
  }
  const listed = serials.map((hex) => tlv(0x30, Buffer.concat([tlv(0x02, Buffer.from(hex, 'hex')), revokedAt])));
  const ecdsaWithSha256 = tlv(0x30, tlv(0x06, Buffer.from('2a8648ce3d040302', 'hex')));
  const tbs = tlv(
    0x30,
    Buffer.concat([
      tlv(0x02, Buffer.from([1])),
      ecdsaWithSha256,
      subjectDer(certs.intermediate),
      revokedAt,
      utcTime(new Date(Date.now() + 86_400_000)),
      tlv(0x30, Buffer.concat([entries, ...listed])),
    ]),
  );
  const signature = sign('sha256', tbs, createPrivateKey(certs.intermediateKey));
  const der = tlv(0x30, Buffer.concat([tbs, ecdsaWithSha256, tlv(0x03, Buffer.concat([Buffer.from([0]), signature]))]));
  // Lines of 64; a base64 text whose length is a multiple of 64 must not end in an empty line.
  return `-----BEGIN X509 CRL-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END X509 CRL-----\n`;
}

const revokedSerial = new X509Certificate(certs.clientRevokedCert).serialNumber;

t.test(`a CRL of ${ENTRIES.toLocaleString('en')} entries`, async (t) => {
  // The big list is the intermediate's; the root's CRL completes the set a whole-chain check needs.
  const pem = bigCrl(ENTRIES, [revokedSerial]) + certs.rootCrl;
  const server = createServer({ key: certs.serverKey, cert: certs.serverChain, ca: certs.ca, requestCert: true });
  const port = await listen(t, server);

  gc();
  const before = process.memoryUsage();
  const started = performance.now();
  await server.setCrl(pem);
  const ms = performance.now() - started;
  gc();
  const after = process.memoryUsage();
  t.comment(
    `setCrl with ${(pem.length / MiB).toFixed(1)} MiB of PEM: ${ms.toFixed(0)} ms, ` +
      `RSS +${((after.rss - before.rss) / MiB).toFixed(0)} MiB, ` +
      `JS heap +${((after.heapUsed - before.heapUsed) / MiB).toFixed(1)} MiB`,
  );
  t.ok(after.heapUsed - before.heapUsed < 8 * MiB, 'the JS heap does not hold the serials');
  t.equal(server.secureContext.crls[0]?.revokedCount, ENTRIES + 1, 'the count is known without the list');

  const context = server.secureContext;
  t.same(
    context.verifyChain(pemChain(certs.clientRevokedChain)),
    { ok: false, code: 'CERT_REVOKED', error: 'certificate revoked' },
    'the listed serial is revoked',
  );
  t.same(context.verifyChain(pemChain(certs.clientChain)), { ok: true }, 'an unlisted one verifies');

  const refused = waitFor<[Error & { code?: string; verifyError?: string }]>(server, 'tlsClientError', SOON);
  const revoked = connect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientRevokedKey,
    cert: certs.clientRevokedChain,
  });
  revoked.on('error', () => {});
  t.teardown(() => revoked.destroy());
  const [error] = await refused;
  t.equal(error.verifyError, 'CERT_REVOKED', 'the revoked client is refused in the handshake');

  const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
  const good = connect({
    port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
  });
  good.on('error', () => {});
  t.teardown(() => good.destroy());
  const [socket] = await accepted;
  t.equal(socket.authorized, true, 'an unlisted client connects');
});

t.test('the serials are still listed on demand, for each CRL of a bundle', async (t) => {
  const listed = ['0A0B0C0D0E0F', revokedSerial];
  const context = createSecureContext({ ca: certs.ca, crl: certs.rootCrl + bigCrl(3, listed) }, true);
  const [root, intermediate] = context.crls;
  t.same(root?.revoked, [], 'the root CRL lists nothing');
  t.equal(intermediate?.revokedCount, 5);
  t.same(intermediate?.revoked.slice(3), listed, 'the intermediate CRL lists the serials, in order');
  t.equal(intermediate?.revoked, intermediate?.revoked, 'read once, then kept');
});
