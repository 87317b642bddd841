// Everything the addon hands the library (errors, getInfo(), verification outcomes, CRL facts, the
// tuples of cycle() and write()) is built with defined properties and elements. An accessor that
// app code leaves on Object.prototype or Array.prototype under one of those names must neither run
// nor take the value: the library decides what is authorized, and what reaches the app, from these
// objects. The names are read from native/ itself, so a property added later is covered too. The
// accessors are in place only while the addon's own calls run.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { contextHandle, createSecureContext } from '../dist/tls/context.js';
import { native } from '../dist/tls/native.js';
import { certs } from './helpers/certs';

const root = join(__dirname, '..');

/** Every property name native/ defines with DefineOwn. */
function definedNames(): string[] {
  const names = new Set<string>();
  for (const file of readdirSync(join(root, 'native')).filter((name) => name.endsWith('.cc'))) {
    const source = readFileSync(join(root, 'native', file), 'utf8');
    for (const match of source.matchAll(/DefineOwn\(\s*env,\s*[\w.()]+,\s*"([^"]+)"/g)) names.add(match[1]!);
  }
  return [...names].sort();
}

/** Runs `body` with a recording accessor on each name and on Array.prototype's first 8 indices. */
function withAccessors<T>(names: readonly string[], body: () => T): { value: T; ran: () => string[] } {
  // A Set: pushing onto an array would itself run the index accessors.
  const ran = new Set<string>();
  const targets: Array<[object, string]> = [
    ...names.map((name): [object, string] => [Object.prototype, name]),
    ...Array.from({ length: 8 }, (_, index): [object, string] => [Array.prototype, String(index)]),
  ];
  for (const [target, key] of targets) {
    Object.defineProperty(target, key, {
      configurable: true,
      get: () => {
        ran.add(`get ${key}`);
        return undefined;
      },
      set: () => ran.add(`set ${key}`),
    });
  }
  try {
    const value = body();
    return { value, ran: () => [...ran] };
  } finally {
    for (const [target, key] of targets) delete (target as Record<string, unknown>)[key];
  }
}

type Tuple = [Buffer | null, Buffer | null, number, unknown, number, Buffer | null];
interface Handle {
  cycle(ciphertext?: Buffer): Tuple;
  write(data: Buffer[]): Tuple;
  getInfo(): Record<string, unknown>;
  getPeerChain(): Buffer[];
}
const Connection = (native as unknown as { TlsConnection: new (...args: unknown[]) => Handle }).TlsConnection;

function der(pem: string): Buffer[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map(
    (block) => new X509Certificate(block).raw,
  );
}

t.test('accessors on the prototypes take nothing the addon returns', async (t) => {
  const names = definedNames();
  t.ok(
    ['code', 'ok', 'sessionReused', 'nextUpdate', 'chain'].every((name) => names.includes(name)),
    'names found',
  );
  const serverContext = createSecureContext(
    { key: certs.serverKey, cert: certs.serverChain, ca: certs.ca, crl: certs.crl },
    true,
  );
  const clientContext = createSecureContext({ ca: certs.ca, key: certs.clientKey, cert: certs.clientChain }, false);
  const { value, ran } = withAccessors(names, () => {
    const server = new Connection(contextHandle(serverContext), true, { requestCert: true, rejectUnauthorized: true });
    const client = new Connection(contextHandle(clientContext), false, { servername: 'localhost' });
    let toServer = client.cycle()[1];
    for (let i = 0; i < 10 && toServer !== null; i++) {
      const toClient = server.cycle(toServer)[1];
      toServer = toClient === null ? null : client.cycle(toClient)[1];
    }
    const sent = client.write([Buffer.from('hello')]);
    const read = server.cycle(sent[1] ?? undefined);
    const garbage = server.cycle(Buffer.alloc(64, 0x17));
    const verified = contextHandle(serverContext).verifyChain(der(certs.clientChain), 'sslclient');
    const refused = contextHandle(clientContext).verifyChain(der(certs.clientChain), 'sslserver');
    const crls = (native as unknown as { crlInfo(pem: Buffer): Array<Record<string, unknown>> }).crlInfo(
      Buffer.from(certs.crl),
    );
    let badPem: unknown = null;
    try {
      contextHandle(serverContext).setTrust(Buffer.from('not pem'), undefined, {
        crlCheckAll: false,
        allowStaleCrl: false,
      });
    } catch (error) {
      badPem = error;
    }
    return { server, client, sent, read, garbage, verified, refused, crls, badPem };
  });
  t.same(ran(), [], 'no accessor ran');
  const own = (object: object, key: string | number): boolean => Object.prototype.hasOwnProperty.call(object, key);
  const tuples = [value.sent, value.read, value.garbage];
  t.ok(
    tuples.every((tuple) => [0, 1, 2, 3, 4, 5].every((index) => own(tuple, index))),
    'every tuple element is its own',
  );
  t.equal(value.read[4] + (value.read[0]?.length ?? 0), 5, 'the plaintext arrives, counted');
  t.ok(value.garbage[3] instanceof Error && own(value.garbage[3] as object, 'code'), 'a bad record fails, coded');
  const info = value.server.getInfo();
  t.ok(own(info, 'sessionReused') && own(info, 'handshakeDone') && info.handshakeDone === true, 'getInfo is own');
  t.ok(own(value.verified, 'ok') && value.verified.ok === true && own(value.verified, 'notAfter'), 'a verdict');
  t.ok(own(value.refused, 'ok') && value.refused.ok === false && own(value.refused, 'code'), 'a refusal');
  t.ok(value.crls.length > 0 && own(value.crls[0]!, 'nextUpdate'), 'CRL facts are own');
  t.ok(value.badPem instanceof Error && own(value.badPem, 'code') && own(value.badPem, 'option'), 'an error');
});
