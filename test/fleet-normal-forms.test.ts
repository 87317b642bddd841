/**
 * Property tests of the fleet's normal forms, where a mismatch fails open: an issuer name, a serial
 * number and an email address each read alike whichever side spells them (node's X509Certificate, a
 * CRL as the addon reads it, a caller's revocation, a SET's subject), and normalising twice changes
 * nothing (a late joiner reads the snapshot's stored form as live members read the entry).
 */
import t from 'tap';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { FleetGuard, FleetState } from '../dist/fleet/state.js';
import { checkEvent, normalizeIssuer, normalizeSerial, splitCrls, stateOps } from '../dist/fleet/events.js';
import { defaultIdentifiers, subjectKeys } from '../dist/fleet/subject-id.js';
import { mapSet } from '../dist/fleet/ssf/caep.js';
import { native } from '../dist/tls/native.js';
import { DevelopmentCA } from '../dist/dev/pki.js';
import { OpensslWorkspace } from './helpers/openssl-ca';

const special = fc.constantFrom(',', '+', '"', ';', '\\', '=', '<', '>', '#', ' ', '/', 'ü', '東', '😀', 'a', 'Z', '1');
const value = fc
  .array(special, { minLength: 1, maxLength: 12 })
  .map((chars) => chars.join(''))
  .filter((v) => v.trim() !== '');
const type = fc.constantFrom('CN', 'O', 'OU', 'L', 'ST');
const rdn = fc.array(fc.tuple(type, value), { minLength: 1, maxLength: 3 });
const dn = fc.array(rdn, { minLength: 1, maxLength: 3 });

t.test('normalizeIssuer is idempotent', async (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: special })), (text) => {
      const once = normalizeIssuer(text);
      return normalizeIssuer(once) === once;
    }),
    { numRuns: 2_000 },
  );
  t.pass('normalize(normalize(x)) === normalize(x)');
});

/** A CA named `name` (OpenSSL -subj spelling), a leaf of `serial` it issued, and its CRL listing it. */
function pki(openssl: OpensslWorkspace, name: string, serial: bigint): { ca: string; leaf: string; crl: string } {
  const ca = openssl.ca('ca', '-utf8', '-multivalue-rdn', '-subj', name);
  const leaf = openssl.leaf('leaf', 'ca', { subject: '/CN=leaf', serial: serial.toString() });
  return { ca, leaf, crl: openssl.crl('ca', [leaf], { settings: 'utf8 = yes' }) };
}

/** OpenSSL's -subj: '/' between RDNs, '+' between the attributes of one, any character escaped by '\'. */
const subj = (name: Array<Array<[string, string]>>): string =>
  name.map((r) => '/' + r.map(([k, v]) => `${k}=${v.replace(/./gsu, (c) => `\\${c}`)}`).join('+')).join('');

const serial = fc.bigInt({ min: -(1n << 159n), max: (1n << 159n) - 1n }).filter((n) => n !== 0n);

t.test("a CRL's issuer and serial read as node reads its certificates'", async (t) => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    t.comment('no openssl: skipped');
    return;
  }
  const openssl = new OpensslWorkspace(t, 'ctls-normal-forms-');
  fc.assert(
    fc.property(dn, serial, (name, n) => {
      const made = pki(openssl, subj(name), n);
      const leaf = new X509Certificate(made.leaf);
      const ca = new X509Certificate(made.ca);
      const [crl] = splitCrls(made.crl);
      const nodeSide = normalizeIssuer(leaf.issuer);
      if (crl!.issuer !== nodeSide) throw new Error(`${JSON.stringify(crl!.issuer)} != ${JSON.stringify(nodeSide)}`);
      if (normalizeIssuer(ca.subject) !== nodeSide) throw new Error('the CA subject reads otherwise');
      const listed = native.crlInfo(Buffer.from(made.crl, 'latin1'), true)[0]!.revoked.map((s) => normalizeSerial(s));
      if (!listed.includes(normalizeSerial(leaf.serialNumber)))
        throw new Error(`${leaf.serialNumber} not in ${listed}`);
      const state = new FleetState();
      const guard = new FleetGuard(state, { stale: false, strict: true });
      for (const op of stateOps(checkEvent({ type: 'crl', pem: made.crl }))) state.apply(op);
      const peer = { chain: [leaf], token: undefined, connectionSince: 0, tier: 'request' as const };
      const verdict = guard.judge(peer, Date.now());
      if (verdict.deny !== 'certificate-revoked') throw new Error(`admitted under ${JSON.stringify(leaf.issuer)}`);
      // A caller's revocation naming node's spelling of the issuer matches too.
      const byCaller = new FleetState();
      const revoke = { type: 'certificate-revoked', serial: leaf.serialNumber, issuer: leaf.issuer };
      for (const op of stateOps(checkEvent(revoke))) byCaller.apply(op);
      return new FleetGuard(byCaller, { stale: false, strict: true }).judge(peer, Date.now()).deny !== undefined;
    }),
    { numRuns: 12 },
  );
  t.pass('CRL side and node side agree');
});

/** Node's spelling of a serial: hex of even length, upper case, '-' for a negative one. */
const nodeHex = (n: bigint): string => {
  const hex = (n < 0n ? -n : n).toString(16).toUpperCase();
  return `${n < 0n ? '-' : ''}${hex.length % 2 === 1 ? `0${hex}` : hex}`;
};

t.test('serials: every spelling of a number has one normal form, keeping its sign', async (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: -(1n << 256n), max: 1n << 256n }), fc.nat(3), (n, zeros) => {
      const normal = normalizeSerial(nodeHex(n));
      const digits = (n < 0n ? -n : n).toString(16);
      // Colons separate whole bytes: an odd count of digits has its leading zero.
      const magnitude = digits.length % 2 === 0 ? digits : `0${digits}`;
      const bytes = `${'00'.repeat(zeros)}${magnitude}`.replace(/(..)(?=.)/g, '$1:');
      const caller = `${n < 0n ? '-' : ''}${bytes}`;
      const value = normal?.startsWith('-') ? -BigInt(`0x${normal.slice(1)}`) : BigInt(`0x${normal}`);
      return normal !== undefined && normalizeSerial(caller) === normal && value === n;
    }),
    { numRuns: 1_000 },
  );
  t.pass('node, caller and CRL spellings agree');
});

t.test('serials: a byte written with one digit between colons is that byte', async (t) => {
  t.equal(normalizeSerial('67:0:5e'), '67005E');
  t.equal(normalizeSerial('67:00:5E'), '67005E');
  t.equal(normalizeSerial('-0:5'), '-5');
  t.equal(normalizeSerial('00:5e0a'), '5E0A', 'a longer group of whole bytes');
  t.equal(normalizeSerial('67:05e'), undefined, 'an odd group of more than one digit cannot be told apart');
  t.equal(normalizeSerial('67::5e'), undefined, 'an empty byte is refused');
});

const local = fc.stringMatching(/^[a-zA-Z0-9._-]{1,12}$/);
const label = fc.array(fc.constantFrom('a', 'b', 'ü', 'ö', 'é', 'ß', '東', 'x', '1', 'K'), {
  minLength: 1,
  maxLength: 8,
});
const domain = fc
  .array(label, { minLength: 1, maxLength: 2 })
  .map((labels) => `${labels.map((l) => l.join('')).join('.')}.example`)
  .filter((d) => domainToASCII(d) !== '');

/** Spellings of one mailbox an identity provider or a certificate may use. */
const spellings = (email: string): string[] => {
  const at = email.lastIndexOf('@');
  const [user, host] = [email.slice(0, at), email.slice(at + 1)];
  // 'ß' upper-cases to 'SS': another domain (UTS #46 keeps ß), so no spelling of this one.
  const upper = (text: string): string => text.replace(/[^ß]+/g, (part) => part.toUpperCase());
  return [
    email,
    email.normalize('NFD'),
    upper(email),
    `${user}@${domainToASCII(host)}`,
    `${upper(user)}@${domainToASCII(host).toUpperCase()}`,
  ];
};

t.test('emails: one key for every spelling of a mailbox, on the subject and the peer side', async (t) => {
  fc.assert(
    fc.property(local, domain, (user, host) => {
      const keys = new Set<string>();
      for (const email of spellings(`${user}@${host}`)) {
        keys.add(subjectKeys({ format: 'email', email })[0]!);
        for (const { key } of defaultIdentifiers(undefined, { email })) keys.add(key);
      }
      const [only] = keys;
      return keys.size === 1 && subjectKeys({ format: 'email', email: only!.slice('email:'.length) })[0] === only;
    }),
    { numRuns: 500 },
  );
  const ca = await DevelopmentCA.create({ intermediate: false });
  for (const host of ['bücher.example', '東京.example', 'straße.example']) {
    const cert = await ca.issueClient({ commonName: 'u', altNames: [`u@${domainToASCII(host)}`] });
    const [sanKey] = defaultIdentifiers(new X509Certificate(cert.cert), undefined).map(({ key }) => key);
    for (const email of spellings(`U@${host}`))
      t.equal(subjectKeys({ format: 'email', email })[0], sanKey, `${email} matches the SAN`);
  }
});

t.test('a URI subject keys alike in any case of its scheme, host and percent-encodings, and only those', async (t) => {
  const key = (uri: string) => subjectKeys({ format: 'uri', uri })[0]!;
  t.equal(key('HTTPS://Api.Example.COM/ns/prod%2fsa'), key('https://api.example.com/ns/prod%2Fsa'));
  t.equal(key('spiffe://Prod.Example/ns/a'), key('spiffe://prod.example/ns/a'));
  t.equal(key('https://Bob@Host.Example:8443/x'), 'uri:https://Bob@host.example:8443/x', 'userinfo keeps its case');
  t.not(key('https://host.example/Path'), key('https://host.example/path'), 'the path keeps its case');
  t.not(key('urn:example:Alice'), key('urn:example:alice'), 'so does a URN after its scheme');
  t.equal(key('not a uri'), 'uri:not a uri');
  // Idempotent: a key read back as a URI keys to itself.
  fc.assert(
    fc.property(fc.webUrl({ withQueryParameters: true, withFragments: true }), fc.boolean(), (url, upper) => {
      const spelled = upper ? url.replace(/^[a-z]+:\/\/[^/?#]*/, (head) => head.toUpperCase()) : url;
      const once = key(spelled);
      return key(once.slice('uri:'.length)) === once && once === key(url);
    }),
    { numRuns: 1_000 },
  );
  t.pass('a scheme and host in upper case key as the lower-case URI');
});

const uriKeyOf = (uri: string): string => subjectKeys({ format: 'uri', uri })[0]!;

t.test("a URI subject keys alike with or without its scheme's default port", async (t) => {
  const defaults = { http: 80, https: 443, ws: 80, wss: 443 };
  fc.assert(
    fc.property(
      fc.constantFrom(...(Object.keys(defaults) as Array<keyof typeof defaults>)),
      fc.domain(),
      fc.webPath(),
      fc.nat(2),
      (scheme, host, path, zeros) => {
        const bare = uriKeyOf(`${scheme}://${host}${path}`);
        const port = `${'0'.repeat(zeros)}${defaults[scheme]}`;
        return (
          uriKeyOf(`${scheme}://${host}:${port}${path}`) === bare &&
          uriKeyOf(`${scheme.toUpperCase()}://${host}:${path}`) === bare &&
          uriKeyOf(`${scheme}://${host}:8${defaults[scheme]}${path}`) !== bare
        );
      },
    ),
    { numRuns: 500 },
  );
  t.equal(uriKeyOf('https://h.example:80/x'), 'uri:https://h.example:80/x', "another scheme's default stays");
  t.equal(uriKeyOf('spiffe://h.example:443/x'), 'uri:spiffe://h.example:443/x', 'a scheme without one keeps it');
  t.equal(uriKeyOf('https://u@[::1]:443/x'), 'uri:https://u@[::1]/x', 'an IP literal host');
});

t.test('a URI subject keys alike with its unreserved characters percent-encoded, and only those', async (t) => {
  const unreserved = fc.constantFrom(...'azAZ09-._~'.split(''));
  fc.assert(
    fc.property(fc.array(fc.tuple(unreserved, fc.nat(2)), { minLength: 1, maxLength: 12 }), (chars) => {
      const plain = chars.map(([c]) => c).join('');
      const escaped = chars
        .map(([c, how]) => {
          const hex = c.charCodeAt(0).toString(16);
          return how === 0 ? c : `%${how === 1 ? hex : hex.toUpperCase()}`;
        })
        .join('');
      const key = uriKeyOf(`https://home.example.com/${plain}?q=${plain}#${plain}`);
      return uriKeyOf(`https://home.example.com/${escaped}?q=${escaped}#${escaped}`) === key;
    }),
    { numRuns: 500 },
  );
  t.equal(uriKeyOf('https://h.example/a%2fb%3Fc%c3%bc'), 'uri:https://h.example/a%2Fb%3Fc%C3%BC', 'reserved stay');
  t.not(uriKeyOf('https://h.example/a%2Fb'), uriKeyOf('https://h.example/a/b'), 'an escaped / is no separator');
  t.equal(uriKeyOf('%68ttps://H.example/'), 'uri:%68ttps://H.example/', 'what is no URI as given stays so');
});

t.test('a URI subject keys its host as an email domain is: every spelling meets the A-label SAN', async (t) => {
  fc.assert(
    fc.property(domain, fc.webPath(), (host, path) => {
      const keys = new Set<string>();
      for (const spelled of [
        host,
        host.normalize('NFD'),
        host.replace(/[^ß]+/g, (part) => part.toUpperCase()),
        domainToASCII(host),
        encodeURIComponent(host),
      ])
        keys.add(uriKeyOf(`spiffe://${spelled}${path}`));
      const [only] = keys;
      return keys.size === 1 && uriKeyOf(only!.slice('uri:'.length)) === only;
    }),
    { numRuns: 500 },
  );
  const ca = await DevelopmentCA.create({ intermediate: false });
  for (const host of ['bücher.example', '東京.example']) {
    const san = `spiffe://${domainToASCII(host)}/ns/prod/sa/api`;
    const cert = await ca.issueClient({ commonName: 'u', altNames: [san] });
    const [sanKey] = defaultIdentifiers(new X509Certificate(cert.cert), undefined).map(({ key }) => key);
    t.equal(uriKeyOf(`spiffe://${host.toUpperCase()}:/ns/prod/sa/%61pi`), sanKey, `${host} matches the SAN`);
  }
});

t.test('URI keys stay idempotent with ports, escapes and Unicode hosts', async (t) => {
  const piece = fc.constantFrom(
    'a',
    'Z',
    '~',
    '%7e',
    '%7E',
    '%2f',
    '%C3%BC',
    'ü',
    ':',
    '@',
    '/',
    '?',
    '#',
    '[',
    ']',
    '0',
  );
  const text = fc.array(piece, { maxLength: 16 }).map((p) => p.join(''));
  fc.assert(
    fc.property(
      fc.constantFrom('https', 'HTTP', 'wss', 'spiffe', 'urn'),
      fc.boolean(),
      text,
      (scheme, slashes, rest) => {
        const once = uriKeyOf(`${scheme}:${slashes ? '//' : ''}${rest}`);
        return uriKeyOf(once.slice('uri:'.length)) === once;
      },
    ),
    { numRuns: 3_000 },
  );
  t.pass('key(key(x)) === key(x)');
});

t.test('a snapshot written with an older spelling of a key still meets the peer', async (t) => {
  const ca = await DevelopmentCA.create({ intermediate: false });
  const cert = await ca.issueClient({ commonName: 'b', altNames: ['https://workloads.example.com/billing'] });
  const leaf = new X509Certificate(cert.cert);
  const state = new FleetState();
  // As a member keying URIs without the default-port rule stored it.
  const field = JSON.stringify(['uri:https://workloads.example.com:443/billing', null]);
  state.load(new Map([['subjects', new Map([[field, String(Date.now() + 1_000)]])]]));
  const guard = new FleetGuard(state, { stale: false, strict: true });
  const peer = { chain: [leaf], token: undefined, connectionSince: 0, tier: 'owned' as const };
  t.same(guard.judge(peer, Date.now()), { deny: 'subject-revoked' });
});

t.test('complex subjects and aliases: parts in unknown formats', async (t) => {
  const alice = { format: 'email', email: 'alice@example.com' };
  const jwtId = { format: 'jwt_id', iss: 'https://idp.test', jti: 'j-1' };
  const complex = { format: 'complex', user: alice, session: jwtId };
  t.same(subjectKeys(complex, 'revocation'), ['email:alice@example.com'], 'a revocation matches through the user');
  t.throws(() => subjectKeys(complex, 'exact'), { code: 'ERR_CTLS_BAD_SUBJECT' }, 'a signal is not widened');
  t.throws(() => subjectKeys(complex), { code: 'ERR_CTLS_BAD_SUBJECT' }, 'exact by default');
  const aliases = { format: 'aliases', identifiers: [{ format: 'saml_assertion_id', id: 'x' }, alice] };
  t.same(subjectKeys(aliases, 'exact'), ['email:alice@example.com'], 'an unknown alias is skipped');
  const nested = { format: 'complex', user: alice, session: { format: 'aliases', identifiers: [jwtId] } };
  t.same(subjectKeys(nested, 'revocation'), ['email:alice@example.com'], 'so is a part of unknown aliases only');
  t.throws(() => subjectKeys(nested, 'exact'), { code: 'ERR_CTLS_BAD_SUBJECT' });
  for (const use of ['revocation', 'exact'] as const) {
    for (const bad of [
      { format: 'complex', session: jwtId },
      { format: 'aliases', identifiers: [jwtId] },
      { format: 'complex', user: alice, session: 'j-1' },
      { format: 'complex', user: alice, session: { format: 7 } },
      { format: 'complex', user: alice, session: { format: 'opaque' } },
      jwtId,
    ])
      t.throws(() => subjectKeys(bad, use), { code: 'ERR_CTLS_BAD_SUBJECT' }, `${use}: ${JSON.stringify(bad)}`);
  }
  const ops = stateOps(checkEvent({ type: 'subject-revoked', subject: complex, before: 1 }));
  t.same(
    ops.filter((op) => op.hash === 'subjects' && op.rule !== 'expire').map((op) => JSON.parse(op.field)[0]),
    ['email:alice@example.com'],
    'published, the revocation is stored under the user',
  );
  t.throws(() => checkEvent({ type: 'signals', subject: complex, signals: { device: {} } }), {
    code: 'ERR_CTLS_BAD_SUBJECT',
  });
  // Received from a transmitter: the revocation is mapped, the signal refused as invalid_request.
  const caep = 'https://schemas.openid.net/secevent/caep/event-type/';
  const set = (event: string, payload: Record<string, unknown>) => ({
    token: '',
    header: { alg: 'ES256' },
    claims: { iss: 'i', aud: 'a', iat: 1, jti: 'j', sub_id: complex, events: { [`${caep}${event}`]: payload } },
  });
  t.equal(mapSet(set('session-revoked', {}))[0]?.action?.type, 'subject-revoked');
  t.throws(() => mapSet(set('device-compliance-change', { current_status: 'compliant' })), {
    code: 'ERR_CTLS_SET_INVALID',
    ssfError: 'invalid_request',
  });
});
