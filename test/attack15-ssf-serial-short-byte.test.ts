/**
 * Attack: a CAEP credential-change names the revoked certificate's serial as colon-separated bytes
 * with a byte written in one hex digit, e.g. `7f:a:c3` for the bytes 7F 0A C3. The receiver accepts
 * this spelling (its own pattern allows one or two digits per byte) and documents the colon form as
 * bytes, but the fleet normalises serials by deleting the colons: `7f:a:c3` becomes 7FAC3, another
 * number. The certificate meant (…7F0AC3…) stays valid, and a certificate nobody named is revoked.
 *
 * A correct library reads each colon-separated group as one byte (pads it to two digits) before
 * joining, or refuses a group that is not two digits as invalid_request, so the transmitter learns
 * the revocation was not applied. It never revokes a different serial.
 *
 * Attack class: lossy conversion / canonical names (one serial, two readings), fail-open revocation.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { createDevTransmitter } from '../dist/dev/ssf-transmit.js';
import { ssfReceiver } from '../dist/fleet/ssf/index.js';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, stateOps } from '../dist/fleet/events.js';
import { DevelopmentCA } from '../dist/dev/pki.js';

const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
const AUDIENCE = 'https://rp.test';

t.test('a serial spelled with a one-digit byte revokes that certificate, or is refused', async (t) => {
  const ca = await DevelopmentCA.create({ intermediate: false });
  // A certificate whose serial has a byte 0x0N after its first byte (about 6 in 10 random serials do).
  let leaf: X509Certificate | undefined;
  let bytes: string[] = [];
  for (let i = 0; i < 64 && leaf === undefined; i++) {
    const cert = new X509Certificate((await ca.issueClient({ commonName: `c${i}` })).cert);
    bytes = cert.serialNumber.match(/../g)!;
    if (bytes.slice(1).some((b) => b.startsWith('0'))) leaf = cert;
  }
  t.ok(leaf, 'a certificate with a 0x0N byte');
  // OpenSSL's colon form, but each byte in as few digits as it needs: 0A -> a.
  const spelled = bytes.map((b) => b.replace(/^0(?=.)/, '').toLowerCase()).join(':');
  t.not(spelled, bytes.join(':').toLowerCase());

  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const receiver = ssfReceiver({ issuer: transmitter.issuer, audience: AUDIENCE, jwks: transmitter.jwks() });
  const token = await transmitter.sign({
    audience: AUDIENCE,
    jti: 'serial-1',
    subject: { format: 'email', email: 'alice@example.com' },
    events: { [`${CAEP}credential-change`]: { change_type: 'revoke', credential_type: 'x509', x509_serial: spelled } },
  });
  let events;
  try {
    events = await receiver.receive(token);
  } catch (err) {
    // Refusing the spelling is correct too: the transmitter is told.
    t.match(err, { code: 'ERR_CTLS_SET_INVALID', ssfError: 'invalid_request' }, 'refused as invalid_request');
    return;
  }
  const action = events[0]!.action!;
  t.equal(action.type, 'certificate-revoked');
  const state = new FleetState();
  const guard = new FleetGuard(state, { stale: false, strict: true });
  for (const op of stateOps(checkEvent(action))) state.apply(op);
  const facts = { chain: [leaf!], token: undefined, connectionSince: Date.now() - 1_000, tier: 'owned' as const };
  t.same(
    guard.judge(facts, Date.now()),
    { deny: 'certificate-revoked' },
    `serial ${spelled} revokes ${leaf!.serialNumber}`,
  );
});
