// `continuous-tls ssf-transmit`: creates and keeps a development key, writes the JWKS a receiver
// trusts, signs a CAEP event and pushes it; the receiver applies it and the command prints its answer.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { ssfReceiver } from '../dist/fleet/ssf/index.js';
import { tempDir } from './helpers/policy-files';
import { AUDIENCE, fakeFleet, serve } from './helpers/ssf';

const run = promisify(execFile);
const cli = join(__dirname, '..', 'dist', 'dev', 'cli.js');
const ISSUER = 'urn:continuous-tls:dev';

async function exitOf(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, 'ssf-transmit', ...args], { timeout: 15_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

t.test('key, JWKS, push: the receiver applies the event', async (t) => {
  const dir = tempDir(t);
  const key = join(dir, 'dev-key.json');
  const jwksFile = join(dir, 'jwks.json');
  const made = await exitOf(['--key', key, '--jwks-out', jwksFile]);
  t.equal(made.code, 0, made.stderr);
  t.ok(existsSync(key));
  t.equal(statSync(key).mode & 0o777, 0o600, 'the private key is readable by its owner only');
  const jwks = JSON.parse(readFileSync(jwksFile, 'utf8')) as { keys: Array<Record<string, unknown>> };
  t.equal(jwks.keys.length, 1);
  t.equal(jwks.keys[0]?.['d'], undefined, 'no private member in the JWKS');

  const fleet = fakeFleet();
  const receiver = ssfReceiver({ issuer: ISSUER, audience: AUDIENCE, jwks, fleet, authorization: 'Bearer dev' });
  const url = await serve(t, receiver.handler);
  const common = ['--receiver', url, '--audience', AUDIENCE, '--key', key, '--authorization', 'Bearer dev'];
  const pushed = await exitOf([...common, '--subject-email', 'alice@example.com', '--reason', 'offboarded']);
  t.equal(pushed.code, 0, pushed.stderr);
  t.equal(pushed.stdout, '202\n');
  t.equal(fleet.calls.length, 1);
  const call = fleet.calls[0];
  t.equal(call?.method, 'revokeSubject');
  if (call?.method === 'revokeSubject') {
    t.same(call.subject, { format: 'email', email: 'alice@example.com' });
    t.equal(call.options?.reason, 'offboarded');
  }

  const cert = await exitOf([
    ...common,
    '--event',
    'credential-change',
    '--subject-email',
    'a@b.c',
    '--serial',
    '0a1b',
  ]);
  t.equal(cert.code, 0, cert.stderr);
  t.same(fleet.calls[1], { method: 'revokeCertificate', revocation: { serial: '0a1b' } });

  // An ephemeral key the receiver does not trust: the receiver's refusal is printed, exit 1.
  const stranger = await exitOf([
    '--receiver',
    url,
    '--audience',
    AUDIENCE,
    '--subject-email',
    'a@b.c',
    '--authorization',
    'Bearer dev',
  ]);
  t.equal(stranger.code, 1);
  t.match(stranger.stdout, /^400 \{"err":"invalid_key"/);
  t.match(stranger.stderr, /ephemeral key, JWKS: \{"keys"/);
  t.equal(fleet.calls.length, 2);
});

t.test('command-line mistakes exit 2 with the usage', async (t) => {
  for (const args of [
    ['--receiver', 'http://127.0.0.1:1/', '--subject-email', 'a@b.c'],
    ['--receiver', 'not a url'],
    ['--event', 'nope', '--key', 'k'],
    ['--bogus'],
    [],
    ['--receiver', 'http://127.0.0.1:1/', '--audience', 'a', '--subject-email', 'a@b.c', '--subject-uri', 'u:x'],
    ['--receiver', 'http://127.0.0.1:1/', '--audience', 'a', '--subject-email', 'a@b.c', '--serial', '01'],
    ['--receiver', 'http://127.0.0.1:1/', '--audience', 'a', '--subject-email', 'a@b.c', '--claims', '[1]'],
  ]) {
    const { code, stderr } = await exitOf(args);
    t.equal(code, 2, args.join(' '));
    t.match(stderr, /Usage: continuous-tls ssf-transmit/);
  }
  const help = await exitOf(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /Usage: continuous-tls ssf-transmit/);
  const down = await exitOf(['--receiver', 'http://127.0.0.1:1/', '--audience', 'a', '--subject-email', 'a@b.c']);
  t.equal(down.code, 1, 'an unreachable receiver');
  t.match(down.stderr, /could not be reached/);
});
