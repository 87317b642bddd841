import t from 'tap';
import { spawn } from 'node:child_process';
import * as path from 'node:path';

// The README's first command runs this story; it must complete and say so.
t.test('the demo tells the whole story and exits 0', async (t) => {
  const cli = path.join(__dirname, '..', 'dist', 'dev', 'cli.js');
  const child = spawn(process.execPath, [cli, 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  t.equal(code, 0, output);
  t.match(output, /ALLOW handshake\s+demo-alice/, 'the first client is authorized at the handshake');
  t.match(output, /DENY\s+revocation demo-alice .*CERT_REVOKED/, 'revocation denies the live client');
  // With fresh re-checks the expired certificate may be refused by OpenSSL in the
  // exchange (no new certificate to name) or by the revalidation: both say why.
  t.match(output, /DENY\s+expiry\s+.*CERT_HAS_EXPIRED/, 'expiry denies the second client');
  t.match(output, /ok\s+no byte passes after the CRL swap: 0 bytes/);
  t.match(output, /demo completed as expected/);
});
