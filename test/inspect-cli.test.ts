// `continuous-tls inspect <url>`: fetches what inspectHandler() serves and prints it as JSON; every
// mistake says what was wrong (command-line ones exit 2 with the usage, fetch failures exit 1).
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { inspectHandler, type InspectReport, type InspectTarget } from '../dist/index.js';
import { parseInspectArgs } from '../dist/dev/cli-args.js';
import { tempDir } from './helpers/policy-files';
import { waitFor } from './helpers/owned';
import { connectPair, makePki, mtlsOptions, startServer } from './helpers/mtls';

const run = promisify(execFile);
const cli = join(__dirname, '..', 'dist', 'dev', 'cli.js');
const TOKEN = 'an-operator-token-of-length';

async function exitOf(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
      timeout: 15_000,
      env: { PATH: process.env['PATH'], ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function serve(t: Test, server: http.Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await waitFor(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

t.test('prints the live connections of a server', async (t) => {
  const pki = await makePki();
  const { server, port } = await startServer(t, mtlsOptions(pki));
  await connectPair(t, server, port, pki);
  const url = `http://127.0.0.1:${await serve(t, http.createServer(inspectHandler(server, { token: TOKEN })))}/`;

  const ok = await exitOf(['inspect', url, '--token', TOKEN]);
  t.equal(ok.code, 0, ok.stderr);
  const report = JSON.parse(ok.stdout) as InspectReport;
  t.match(report.connections, [{ tier: 'owned', peer: { commonName: 'alice', serialNumber: pki.client.serial } }]);
  t.match(ok.stdout, /^\{\n {2}"generatedAt"/, 'indented JSON');

  const dir = tempDir(t);
  writeFileSync(join(dir, 'token'), `\n${TOKEN}\n`);
  t.equal((await exitOf(['inspect', url, '--token-file', join(dir, 'token')])).code, 0, '--token-file');
  t.equal((await exitOf(['inspect', url], { CONTINUOUS_TLS_INSPECT_TOKEN: TOKEN })).code, 0, 'the environment');

  t.match(await exitOf(['inspect', url]), {
    code: 1,
    stdout: '',
    stderr: /^continuous-tls inspect: the endpoint requires a bearer token: pass --token or --token-file/,
  });
  t.match(await exitOf(['inspect', url, '--token', `${TOKEN}-wrong`]), {
    code: 1,
    stderr: /^continuous-tls inspect: the endpoint refused the token \(401, invalid_token\)/,
  });
});

t.test('fetch failures exit 1 and say what went wrong', async (t) => {
  const closed = http.createServer();
  const closedPort = await serve(t, closed);
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  t.match(await exitOf(['inspect', `http://127.0.0.1:${closedPort}/`, '--token', TOKEN]), {
    code: 1,
    stderr: `continuous-tls inspect: could not reach http://127.0.0.1:${closedPort}: ECONNREFUSED\n`,
  });

  const other = await serve(
    t,
    http.createServer((req, res) => {
      if (req.url === '/text') res.end('hello');
      else if (req.url === '/json') res.end('{"status":"ok"}');
      else if (req.url === '/slow') setTimeout(() => res.end('{}'), 5_000).unref();
      else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"detail":"no such page"}');
      }
    }),
  );
  const base = `http://127.0.0.1:${other}`;
  t.match(await exitOf(['inspect', `${base}/missing`, '--token', TOKEN]), {
    code: 1,
    stderr: /the endpoint answered HTTP 404 \(no such page\)/,
  });
  t.match(await exitOf(['inspect', `${base}/text`, '--token', TOKEN]), { code: 1, stderr: /the answer is not JSON/ });
  t.match(await exitOf(['inspect', `${base}/json`, '--token', TOKEN]), {
    code: 1,
    stderr: /not an inspect report/,
  });
  t.match(await exitOf(['inspect', `${base}/slow`, '--token', TOKEN, '--timeout', '200']), {
    code: 1,
    stderr: /no complete answer from http:\/\/127\.0\.0\.1:\d+ within 200 ms/,
  });
});

t.test('https: --ca trusts the server, and without it the error says to pass it', async (t) => {
  const pki = await makePki();
  const target: InspectTarget = { inspect: () => ({ generatedAt: null, connections: [] }) };
  const port = await serve(
    t,
    https.createServer({ key: pki.server.key, cert: pki.server.chain }, inspectHandler(target, { token: TOKEN })),
  );
  const dir = tempDir(t);
  writeFileSync(join(dir, 'ca.pem'), pki.ca.rootCert);
  const url = `https://localhost:${port}/`;
  t.match(await exitOf(['inspect', url, '--token', TOKEN, '--ca', join(dir, 'ca.pem')]), {
    code: 0,
    stdout: /"connections": \[\]/,
  });
  t.match(await exitOf(['inspect', url, '--token', TOKEN]), {
    code: 1,
    stderr: /could not reach https:\/\/localhost:\d+: \w+ \(pass --ca with the CA that issued the server certificate\)/,
  });
});

t.test('command-line mistakes exit 2, say what was wrong and show the usage', async (t) => {
  t.match(await exitOf(['inspect']), {
    code: 2,
    stderr: /^continuous-tls inspect: <url> is required\n\nUsage: continuous-tls inspect/,
  });
  t.match(await exitOf(['inspect', '--help']), { code: 0, stdout: /^Usage: continuous-tls inspect <url>/ });
  t.match(await exitOf(['--help']), { code: 0, stdout: /inspect <url>/ });

  const dir = tempDir(t);
  writeFileSync(join(dir, 'empty'), '\n\n');
  const wrong = (args: string[], message: string) => {
    t.throws(() => parseInspectArgs(args, {}), { name: 'UsageError', message }, args.join(' '));
  };
  wrong(['nope'], "<url> must be an http:// or https:// URL (got 'nope')");
  wrong(['ftp://127.0.0.1/'], "<url> must be an http:// or https:// URL (got 'ftp://127.0.0.1/')");
  wrong(['http://user:pw@127.0.0.1/'], '<url> must not carry credentials: use --token or --token-file');
  wrong(['http://a/', 'http://b/'], "unexpected argument 'http://b/' (one <url> only)");
  wrong(['http://a/', '--token', 'x', '--token-file', 'f'], '--token and --token-file are alternatives: give one');
  wrong(['http://a/', '--ca', 'f'], '--ca needs an https:// URL (got http://)');
  wrong(['https://a/', '--key', 'f'], '--key and --cert go together');
  wrong(['http://a/', '--timeout', '1e3'], "--timeout must be a positive integer (got '1e3')");
  wrong(['http://a/', '--timeout'], '--timeout needs a value');
  wrong(['http://a/', '--bogus'], 'unknown flag --bogus');
  wrong(['http://a/', '--token', 'has space'], 'the token must be visible ASCII characters, without spaces');
  wrong(['http://a/', '--token-file', join(dir, 'empty')], `--token-file ${join(dir, 'empty')} holds no token`);
  wrong(['https://a/', '--ca', join(dir, 'absent')], `--ca ${join(dir, 'absent')} could not be read (ENOENT)`);

  t.match(parseInspectArgs(['http://a:9/x', '--token', TOKEN], {}), {
    help: false,
    options: { token: TOKEN, timeoutMs: 10_000 },
  });
  t.equal(
    (parseInspectArgs(['http://a/'], { CONTINUOUS_TLS_INSPECT_TOKEN: TOKEN }) as { options: { token?: string } })
      .options.token,
    TOKEN,
  );
  t.equal(
    (
      parseInspectArgs(['http://a/', '--token', 'flag-wins-over-env-x'], { CONTINUOUS_TLS_INSPECT_TOKEN: TOKEN }) as {
        options: { token?: string };
      }
    ).options.token,
    'flag-wins-over-env-x',
  );
});
