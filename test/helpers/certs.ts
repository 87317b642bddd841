/**
 * The fixture certificates made by test/fixtures/make-certs.sh, as PEM strings.
 * Importing this module (re)generates them first when they are missing or due for renewal, so a test
 * file never depends on another one having run before it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const fixtures = join(__dirname, '..', 'fixtures');
const keysDir = join(fixtures, 'keys');

/** Property name -> file in test/fixtures/keys. */
const files = {
  ca: 'ca.pem',
  caKey: 'ca-key.pem',
  intermediate: 'intermediate.pem',
  intermediateKey: 'intermediate-key.pem',
  caChain: 'ca-chain.pem',
  serverKey: 'server-key.pem',
  serverCert: 'server-cert.pem',
  serverChain: 'server-chain.pem',
  serverRsaKey: 'server-rsa-key.pem',
  serverRsaCert: 'server-rsa-cert.pem',
  serverRsaChain: 'server-rsa-chain.pem',
  serverKeyEncrypted: 'server-key-encrypted.pem',
  clientKey: 'client-key.pem',
  clientCert: 'client-cert.pem',
  clientChain: 'client-chain.pem',
  client2Key: 'client2-key.pem',
  client2Cert: 'client2-cert.pem',
  client2Chain: 'client2-chain.pem',
  clientExpiredKey: 'client-expired-key.pem',
  clientExpiredCert: 'client-expired-cert.pem',
  clientExpiredChain: 'client-expired-chain.pem',
  clientRevokedKey: 'client-revoked-key.pem',
  clientRevokedCert: 'client-revoked-cert.pem',
  clientRevokedChain: 'client-revoked-chain.pem',
  crl: 'crl.pem',
  crlEmpty: 'crl-empty.pem',
  crlStale: 'crl-stale.pem',
  rootCrl: 'root-crl.pem',
  wrongCa: 'wrong-ca.pem',
  wrongCaKey: 'wrong-ca-key.pem',
  clientWrongCaKey: 'client-wrongca-key.pem',
  clientWrongCaCert: 'client-wrongca-cert.pem',
  clientWrongCaChain: 'client-wrongca-chain.pem',
} as const;

export type CertName = keyof typeof files;
export type CertFile = (typeof files)[CertName];

/** The passphrase of certs.serverKeyEncrypted. */
export const serverKeyPassphrase = 'secret';

/** Mirrors the script's own check (renew_after in .complete), so the common case spawns nothing. */
function isCurrent(): boolean {
  const marker = join(keysDir, '.complete');
  if (!existsSync(marker)) return false;
  const renewAfter = /^renew_after=(\d+)$/m.exec(readFileSync(marker, 'latin1'))?.[1];
  if (renewAfter === undefined || Date.now() / 1000 >= Number(renewAfter)) return false;
  return Object.values(files).every((f) => existsSync(join(keysDir, f)));
}

if (!isCurrent()) {
  // The script takes a lock, so test files racing to create the set are fine.
  execFileSync('bash', [join(fixtures, 'make-certs.sh')], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 60_000 });
}

function load(): Record<CertName, string> {
  const loaded = {} as Record<CertName, string>;
  for (const [name, file] of Object.entries(files) as [CertName, CertFile][]) {
    loaded[name] = readFileSync(join(keysDir, file), 'latin1');
  }
  // With CRLs configured every CA of the chain is checked (X509_V_FLAG_CRL_CHECK_ALL, as node:tls
  // does), so what a verifier is given is the intermediate's CRL together with the root's. The
  // files stay one CRL each for CLI peers.
  for (const name of ['crl', 'crlEmpty', 'crlStale'] as const) loaded[name] += loaded.rootCrl;
  return loaded;
}

export const certs: Readonly<Record<CertName, string>> = Object.freeze(load());

/**
 * The file path of a fixture, for CLI peers (`openssl s_client -cert …`): by property name
 * (`keyPath('clientKey')`) or by file name (`keyPath('client-key.pem')`).
 */
export function keyPath(name: CertName | CertFile): string {
  const file = Object.hasOwn(files, name) ? files[name as CertName] : name;
  if (!Object.values(files).includes(file as CertFile)) throw new Error(`unknown fixture ${name}`);
  return join(keysDir, file);
}
