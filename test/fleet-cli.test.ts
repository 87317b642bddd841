/**
 * `continuous-tls fleet revoke` and `fleet status` against a real Redis: a revocation from the
 * command line reaches a running member, status shows the members, their lag and the state's size,
 * and command-line mistakes exit 2 with a message that names the flag.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { createFleet } from '../dist/index.js';
import { haveRedis, startRedis } from './helpers/redis';
import { facts, fakeTarget } from './helpers/fake-guard-host';
import { certs, keyPath } from './helpers/certs';

if (!haveRedis) t.plan(0, 'no redis-server');

const CLI = join(__dirname, '..', 'dist', 'dev', 'cli.js');

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'fleet', ...args],
      { timeout: 20_000, env: { ...process.env, ...env } },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr }),
    );
  });
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test('revoke reaches a running member; status shows it', async (t) => {
  const redis = await startRedis(t);
  const fleet = await createFleet({ redis: redis.url, name: 'ops' });
  t.teardown(() => fleet.close());
  const { target, host } = fakeTarget();
  fleet.watch(target);
  const leaf = facts([certs.clientCert, certs.intermediate]);
  const serial = leaf.chain[0]!.serialNumber;

  const revoke = await cli(['revoke', '--redis', redis.url, '--name', 'ops', '--serial', serial, '--reason', 'lost']);
  t.equal(revoke.code, 0, revoke.stderr);
  const id = revoke.stdout.trim();
  t.match(id, /^\d+-\d+$/);
  await until(() => fleet.status().lastEventId === id);
  t.match(host.judge(leaf), { deny: 'certificate-revoked' });

  const scoped = await cli(
    ['revoke', '--name', 'ops', '--serial', 'AB:CD', '--issuer', '/CN=continuous-tls test root CA'],
    { CONTINUOUS_TLS_FLEET_REDIS: redis.url },
  );
  t.equal(scoped.code, 0, scoped.stderr);
  const crl = await cli(['revoke', '--redis', redis.url, '--name', 'ops', '--crl', keyPath('crl')]);
  t.equal(crl.code, 0, crl.stderr);
  const email = await cli(['revoke', '--redis', redis.url, '--name', 'ops', '--subject-email', 'Dana@example.com']);
  t.equal(email.code, 0, email.stderr);
  await until(() => fleet.status().lastEventId === email.stdout.trim());
  t.match(host.judge(facts([certs.clientRevokedCert])), { deny: 'certificate-revoked' }, 'the CRL file');
  t.match(host.judge(facts([], { token: { email: 'dana@example.com' } })), { deny: 'subject-revoked' });

  await new Promise((resolve) => setTimeout(resolve, 1100)); // one heartbeat after the last entry
  const json = await cli(['status', '--redis', redis.url, '--name', 'ops', '--json']);
  t.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout) as Record<string, unknown>;
  t.match(report, {
    name: 'ops',
    head: { lastId: email.stdout.trim(), seq: 4 },
    lastEvent: { id: email.stdout.trim(), type: 'subject-revoked', origin: /^cli:/ },
    counts: { revokedSerials: 2, revokedSubjects: 1, crls: 1 },
    members: [{ member: fleet.member, lag: 0, pid: process.pid, watching: 1, stale: false }],
  });
  const text = await cli(['status', '--redis', redis.url, '--name', 'ops']);
  t.equal(text.code, 0, text.stderr);
  t.match(text.stdout, /fleet 'ops': 4 entries/);
  t.match(text.stdout, /last event: \S+ subject-revoked from cli:/);
  t.match(text.stdout, /revoked: 2 serials, 1 subject entries; 1 CRLs shared/);
  t.match(text.stdout, new RegExp(`${fleet.member.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}  lag 0  last seen`));
  t.notMatch(text.stdout + json.stdout, redis.url, 'the URL (it may hold a password) is not printed');
});

t.test('command-line mistakes exit 2 and name the flag; an unreachable Redis exits 1', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [[], /a subcommand is required/],
    [['purge', '--redis', 'redis://x'], /unknown subcommand 'purge'/],
    [['revoke', '--serial', 'AB'], /--redis URL is required/],
    [['revoke', '--redis', 'http://x', '--serial', 'AB'], /redis:\/\/ or rediss:\/\//],
    [['revoke', '--redis', 'redis://x'], /say what to revoke/],
    [['revoke', '--redis', 'redis://x', '--serial', 'AB', '--crl', 'f'], /--serial and --crl are alternatives/],
    [['revoke', '--redis', 'redis://x', '--serial', 'xyz'], /serial must be a hex string/],
    [['revoke', '--redis', 'redis://x', '--subject-email', 'a@b', '--issuer', 'CN=x'], /--issuer goes with --serial/],
    [['revoke', '--redis', 'redis://x', '--crl', '/nonexistent/crl.pem'], /could not be read \(ENOENT\)/],
    [['revoke', '--redis', 'redis://x', '--crl', keyPath('ca')], /CRL/],
    [['revoke', '--redis', 'redis://x', '--serial'], /--serial needs a value/],
    [['revoke', '--redis', 'redis://x', '--serial', 'AB', '--json'], /--json is for fleet status/],
    [['status', '--redis', 'redis://x', '--serial', 'AB'], /--serial is for fleet revoke/],
    [['status', '--redis', 'redis://x', '--name', 'a{b}'], /--name must be/],
    [['status', '--redis', 'redis://x', '--timeout', '0'], /--timeout must be a positive integer/],
    [['status', '--bogus'], /unknown flag --bogus/],
  ];
  for (const [args, message] of cases) {
    const run = await cli(args, { CONTINUOUS_TLS_FLEET_REDIS: '' });
    t.equal(run.code, 2, args.join(' '));
    t.match(run.stderr, message, args.join(' '));
    t.match(run.stderr, /Usage: continuous-tls fleet revoke/);
  }
  const help = await cli(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /Usage: continuous-tls fleet/);
  const down = await cli(['status', '--redis', 'redis://127.0.0.1:1', '--timeout', '300']);
  t.equal(down.code, 1);
  t.match(down.stderr, /fleet status: The fleet feed \(Redis\) could not be read/);
  const nowhere = await cli(['revoke', '--redis', 'redis://127.0.0.1:1', '--timeout', '300', '--serial', 'AB']);
  t.equal(nowhere.code, 1);
  t.match(nowhere.stderr, /could not be written/);
});
