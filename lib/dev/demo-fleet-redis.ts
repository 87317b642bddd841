/**
 * A private redis-server for the demo's fleet act and the fleet benchmark: loopback only, on a free
 * port, in a temporary directory, without persistence, stopped (and its directory removed) by
 * stop(). Never port 6379: a developer's own Redis is left alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** How to get redis-server, for the line printed when it is missing. */
export const REDIS_HINT =
  'install redis-server (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)';

export interface PrivateRedis {
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Stops the server (SIGTERM, then SIGKILL after a second) and removes its directory. */
  stop(): Promise<void>;
}

/** The redis-server executable on PATH, or undefined. */
export function findRedisServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'redis-server');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** A port nobody listens on right now (the kernel's choice for port 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Starts redis-server and resolves once it accepts connections. The port is free when chosen but
 * could be taken before redis binds it, so a failed start is retried on another port.
 */
export async function startPrivateRedis(
  options: { executable?: string; timeoutMs?: number } = {},
): Promise<PrivateRedis> {
  const executable = options.executable ?? findRedisServer();
  if (executable === undefined) throw new Error(`redis-server is not on PATH: ${REDIS_HINT}`);
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      return await startOn(executable, port, options.timeoutMs ?? 10_000);
    } catch (error) {
      lastError = error as Error;
    }
  }
  throw lastError ?? new Error('redis-server did not start');
}

async function startOn(executable: string, port: number, timeoutMs: number): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'ctls-redis-'));
  // No RDB snapshots and no AOF: the demo's feed lives as long as the demo.
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'];
  const child = spawn(executable, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = (): Promise<void> => stopChild(child, dir);
  try {
    await readyOrExit(child, timeoutMs);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `redis://127.0.0.1:${port}`, port, pid: child.pid ?? -1, stop };
}

/** Resolves on redis' "Ready to accept connections" line; rejects if it exits or stays silent. */
function readyOrExit(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(
      () => finish(new Error(`redis-server not ready after ${timeoutMs} ms: ${output}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-4096);
      if (output.includes('Ready to accept connections')) finish();
    };
    const onExit = (code: number | null): void => finish(new Error(`redis-server exited (${code}): ${output.trim()}`));
    const finish = (error?: Error): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      child.stdout?.resume();
      child.stderr?.resume();
      if (error === undefined) resolve();
      else reject(error);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', (error) => finish(error));
  });
}

async function stopChild(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 1_000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(dir, { recursive: true, force: true });
}
