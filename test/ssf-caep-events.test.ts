// Each CAEP 1.0 event type reaches the fleet as the right call with the right arguments; events
// that change no access and unknown event types are acknowledged, reported and not applied.
import t from 'tap';
import { createDevTransmitter } from '../dist/dev/ssf-transmit.js';
import { ssfReceiver, type SsfEvent } from '../dist/fleet/ssf/index.js';
import { AUDIENCE, CAEP, fakeFleet } from './helpers/ssf';

const alice = { format: 'email', email: 'alice@example.com' } as const;

async function setup() {
  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const fleet = fakeFleet();
  const receiver = ssfReceiver({ issuer: transmitter.issuer, audience: AUDIENCE, jwks: transmitter.jwks(), fleet });
  const events: SsfEvent[] = [];
  receiver.on('event', (event) => events.push(event));
  let n = 0;
  const send = async (
    name: string,
    fields: Record<string, unknown>,
    extra: { subject?: unknown; iat?: number } = {},
  ) => {
    const token = await transmitter.sign({
      audience: AUDIENCE,
      jti: `j${++n}`,
      ...(extra.iat === undefined ? {} : { iat: extra.iat }),
      ...('subject' in extra ? {} : { subject: alice }),
      events: { [name.includes(':') ? name : `${CAEP}${name}`]: fields },
    });
    return receiver.receive(token);
  };
  return { fleet, receiver, events, send };
}

t.test('session-revoked -> revokeSubject before the event time, with the admin reason', async (t) => {
  const { fleet, send } = await setup();
  const at = Math.floor(Date.now() / 1000) - 30;
  await send('session-revoked', { event_timestamp: at, reason_admin: { de: 'Sitzung', en: 'Landspeed violation' } });
  t.same(fleet.calls, [
    { method: 'revokeSubject', subject: alice, options: { before: (at + 1) * 1000, reason: 'Landspeed violation' } },
  ]);
  // Without event_timestamp: the SET's iat. A timestamp ahead of now is clamped to now plus the
  // clock tolerance (default 30 s): the transmitter's clock may run that far ahead of ours.
  const iat = Math.floor(Date.now() / 1000) - 5;
  await send('session-revoked', {}, { iat });
  t.equal(fleet.calls[1]?.method === 'revokeSubject' && fleet.calls[1].options?.before, (iat + 1) * 1000);
  const before = Date.now();
  await send('session-revoked', { event_timestamp: before / 1000 + 3600 });
  const clamped = fleet.calls[2]?.method === 'revokeSubject' ? fleet.calls[2].options?.before : undefined;
  t.ok(
    clamped !== undefined && clamped >= before + 30_000 && clamped <= Date.now() + 30_000,
    'a future event_timestamp is clamped to now + clockTolerance',
  );
});

t.test('the subject: SSF 1.0 sub_id, or an older draft event subject; complex subjects pass through', async (t) => {
  const { fleet, send } = await setup();
  const complex = { format: 'complex', user: alice, session: { format: 'opaque', id: 's-1' } };
  await send('session-revoked', { subject: complex }, { subject: undefined });
  t.same(fleet.calls[0]?.method === 'revokeSubject' && fleet.calls[0].subject, complex);
  await t.rejects(send('session-revoked', {}, { subject: undefined }), {
    code: 'ERR_CTLS_SET_INVALID',
    ssfError: 'invalid_request',
  });
  await t.rejects(send('session-revoked', { subject: { format: 'nope' } }, { subject: undefined }), {
    code: 'ERR_CTLS_SET_INVALID',
    ssfError: 'invalid_request',
  });
  t.equal(fleet.calls.length, 1);
});

t.test('credential-change', async (t) => {
  const { fleet, send, events } = await setup();
  await send('credential-change', {
    credential_type: 'x509',
    change_type: 'revoke',
    x509_serial: '0A:1B:2C',
    x509_issuer: 'CN=Dev CA,O=Example',
    reason_admin: { en: 'key compromise' },
  });
  t.same(fleet.calls[0], { method: 'revokeCertificate', revocation: { serial: '0A:1B:2C', reason: 'key compromise' } });
  const at = Math.floor(Date.now() / 1000) - 1;
  await send('credential-change', { credential_type: 'password', change_type: 'delete', event_timestamp: at });
  t.same(fleet.calls[1], { method: 'revokeSubject', subject: alice, options: { before: (at + 1) * 1000 } });
  await send('credential-change', { credential_type: 'fido2-roaming', change_type: 'create' });
  await send('credential-change', { credential_type: 'password', change_type: 'update' });
  t.equal(fleet.calls.length, 2, 'create and update change no access');
  t.same(
    events.slice(2).map((e) => [e.name, e.action, e.applied]),
    [
      ['credential-change', null, false],
      ['credential-change', null, false],
    ],
  );
  await t.rejects(send('credential-change', { credential_type: 'x509', change_type: 'revoke', x509_serial: 'zz' }), {
    code: 'ERR_CTLS_SET_INVALID',
    ssfError: 'invalid_request',
  });
  // CAEP 1.0 names no text form for the serial (RFC 5280: an INTEGER): hex spellings are taken,
  // a run of decimal digits, which reads as two different serials, is refused.
  await send('credential-change', { credential_type: 'x509', change_type: 'revoke', x509_serial: '0x0a1b' });
  await send('credential-change', { credential_type: 'x509', change_type: 'revoke', x509_serial: '7f3e' });
  await send('credential-change', { credential_type: 'x509', change_type: 'revoke', x509_serial: '12:34' });
  t.same(
    fleet.calls.slice(2).map((call) => call.method === 'revokeCertificate' && call.revocation['serial']),
    ['0a1b', '7f3e', '12:34'],
  );
  fleet.calls.splice(2);
  for (const serial of ['1234', '-05', '0x', 12]) {
    await t.rejects(
      send('credential-change', { credential_type: 'x509', change_type: 'revoke', x509_serial: serial }),
      {
        code: 'ERR_CTLS_SET_INVALID',
        ssfError: 'invalid_request',
      },
    );
  }
  await t.rejects(send('credential-change', { credential_type: 'x509' }), {
    code: 'ERR_CTLS_SET_INVALID',
    ssfError: 'invalid_request',
  });
  t.equal(fleet.calls.length, 2);
});

t.test('token-claims-change, assurance-level-change, device-compliance-change -> signals', async (t) => {
  const { fleet, send } = await setup();
  await send('token-claims-change', { claims: { role: 'ro-admin', groups: ['a'] } });
  await send('assurance-level-change', {
    namespace: 'NIST-AAL',
    current_level: 'nist-aal1',
    previous_level: 'nist-aal2',
    change_direction: 'decrease',
    event_timestamp: 1,
  });
  await send('device-compliance-change', { current_status: 'not-compliant', previous_status: 'compliant' });
  // Each carries its event time (`at`, ms): event_timestamp, else the SET's iat.
  const at = (i: number) => {
    const call = fleet.calls[i];
    return call?.method === 'publish' && 'at' in call.event ? (call.event.at as number) : undefined;
  };
  t.equal(at(1), 1000, 'event_timestamp, in ms');
  for (const i of [0, 2]) t.ok(Math.abs((at(i) ?? 0) - Date.now()) < 5_000, 'else iat, in ms');
  t.match(fleet.calls, [
    {
      method: 'publish',
      event: { type: 'signals', subject: alice, signals: { claims: { role: 'ro-admin', groups: ['a'] } } },
    },
    {
      method: 'publish',
      event: {
        type: 'signals',
        subject: alice,
        signals: {
          assurance: {
            namespace: 'NIST-AAL',
            current_level: 'nist-aal1',
            previous_level: 'nist-aal2',
            change_direction: 'decrease',
          },
        },
      },
    },
    {
      method: 'publish',
      event: {
        type: 'signals',
        subject: alice,
        signals: { device: { current_status: 'not-compliant', previous_status: 'compliant' } },
      },
    },
  ]);
  await t.rejects(send('token-claims-change', { claims: 'x' }), {
    code: 'ERR_CTLS_SET_INVALID',
    ssfError: 'invalid_request',
  });
  await t.rejects(send('device-compliance-change', { previous_status: 'compliant' }), {
    code: 'ERR_CTLS_SET_INVALID',
    ssfError: 'invalid_request',
  });
  await t.rejects(send('assurance-level-change', { namespace: 'x' }), {
    code: 'ERR_CTLS_SET_INVALID',
    ssfError: 'invalid_request',
  });
  t.equal(fleet.calls.length, 3);
});

t.test('other event types are acknowledged, reported and not applied', async (t) => {
  const { fleet, send, events } = await setup();
  await send('session-established', { fp_ua: 'x' });
  await send('https://example.com/event/custom', { a: 1 });
  t.same(fleet.calls, []);
  t.same(
    events.map((e) => [e.name, e.action, e.duplicate]),
    [
      ['session-established', null, false],
      ['https://example.com/event/custom', null, false],
    ],
  );
});

t.test('without a fleet the receiver verifies and reports, and applies nothing', async (t) => {
  const transmitter = await createDevTransmitter({ issuer: 'https://idp.test' });
  const receiver = ssfReceiver({ issuer: transmitter.issuer, audience: AUDIENCE, jwks: transmitter.jwks() });
  const events: SsfEvent[] = [];
  receiver.on('event', (event) => events.push(event));
  await receiver.receive(await transmitter.caep('session-revoked', { audience: AUDIENCE, subject: alice }));
  t.equal(events.length, 1);
  t.equal(events[0]?.applied, false);
  t.same(
    events[0]?.action && { type: events[0].action.type },
    { type: 'subject-revoked' },
    'the action is still reported',
  );
});
