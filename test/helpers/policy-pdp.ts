/** Decision points for the tests: the real `continuous-tls pdp` as a child process, and fakes. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Test } from 'tap';

const cli = join(__dirname, '..', '..', 'dist', 'dev', 'cli.js');

export interface SpawnedPdp {
  url: string;
  /** The bearer token it requires ('' when started with --ca or --insecure-open in `extra`). */
  token: string;
  /** `{ authorization: 'Bearer …' }`, or {} without a token. */
  headers: Record<string, string>;
  proc: ChildProcess;
  stderr: () => string;
}

/**
 * Starts `node dist/dev/cli.js pdp --policies dir …` and waits for the URL it prints. Unless `extra`
 * chooses the authentication (--ca, --token-file, --insecure-open), it requires a fresh bearer token.
 */
export async function spawnPdp(t: Test, dir: string, extra: string[] = []): Promise<SpawnedPdp> {
  let token = '';
  const auth: string[] = [];
  if (!extra.some((a) => a === '--ca' || a === '--token-file' || a === '--insecure-open')) {
    token = randomBytes(24).toString('base64url');
    const tokenDir = mkdtempSync(join(tmpdir(), 'ctls-pdp-token-'));
    t.teardown(() => rmSync(tokenDir, { recursive: true, force: true }));
    writeFileSync(join(tokenDir, 'token'), `${token}\n`, { mode: 0o600 });
    auth.push('--token-file', join(tokenDir, 'token'));
  }
  const proc = spawn(process.execPath, [cli, 'pdp', '--policies', dir, '--port', '0', ...auth, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`pdp did not start: ${err}`)), 10_000);
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`pdp exited ${code}: ${err}`));
    });
  });
  return { url, token, headers: token === '' ? {} : { authorization: `Bearer ${token}` }, proc, stderr: () => err };
}

export interface FakeServer {
  url: string;
  /** Bodies of the requests received, parsed as JSON when possible. */
  requests: Array<{ path: string; body: unknown }>;
}

/** A node:http server whose handler sees the parsed JSON body. Closed at teardown. */
export async function fakeServer(
  t: Test,
  handler: (path: string, body: unknown, res: http.ServerResponse) => void,
): Promise<FakeServer> {
  const requests: FakeServer['requests'] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req
      .setEncoding('utf8')
      .on('data', (d: string) => {
        text += d;
      })
      .on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* keep the text */
        }
        requests.push({ path: req.url ?? '', body });
        handler(req.url ?? '', body, res);
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

export function json(res: http.ServerResponse, status: number, body: unknown): void {
  res
    .writeHead(status, { 'content-type': 'application/json' })
    .end(typeof body === 'string' ? body : JSON.stringify(body));
}
