/**
 * A private redis-server for one test: a free loopback port, a temp directory, an append-only file
 * synced on every write (so kill -9 and restart on the same directory keeps the stream), killed and
 * removed on teardown. Tests that need Redis skip when /usr/bin/redis-server is missing.
 *
 * `cut()` gives a TCP proxy in front of the server whose link can be cut and restored: a network
 * partition for one client while the others keep their connections.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';

export const REDIS_SERVER = process.env['REDIS_SERVER'] ?? '/usr/bin/redis-server';
export const haveRedis = existsSync(REDIS_SERVER);

/**
 * Runs the server under a shell that kills it once the test process is gone: a test killed on a
 * timeout (no teardown) leaves no server behind. Prints the server's pid first.
 */
const WATCHDOG = `
parent=$1; shift
"$@" > /dev/null &
server=$!
echo "$server"
while kill -0 "$parent" 2>/dev/null && kill -0 "$server" 2>/dev/null; do sleep 0.2; done
kill -9 "$server" 2>/dev/null
wait "$server" 2>/dev/null
exit 0
`;

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Starts the server (again) on the same port and directory; resolves when it accepts commands. */
  start(): Promise<void>;
  /** kill -9: no shutdown, no final save. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** A proxy to the server whose link can be cut (a partition) and restored. */
  proxy(): Promise<RedisProxy>;
}

export interface RedisProxy {
  readonly url: string;
  /** Drops every connection through the proxy and refuses new ones. */
  cut(): void;
  /**
   * Stops forwarding on every connection without closing it (a half-open link: no reply, no
   * error, ever) and refuses new ones; restore() lets new connections through, the frozen stay so.
   */
  freeze(): void;
  restore(): void;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Sends PING until the server answers PONG (or the deadline passes). */
async function waitForPong(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.setTimeout(500, () => socket.destroy());
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith('+PONG'));
      });
      socket.once('error', () => resolve(false));
      socket.once('close', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function startRedis(t: Test): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'ctls-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const proxies: net.Server[] = [];
  const sockets = new Set<net.Socket>();

  let pid: number | undefined;

  const kill = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    // kill -9 the server itself; its watchdog shell exits as soon as it sees the server gone.
    if (pid !== undefined) process.kill(pid, 'SIGKILL');
    else running.kill('SIGKILL');
    await exited;
  };

  const start = async (): Promise<void> => {
    if (child !== undefined) throw new Error('redis-server is already running');
    const args = [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes',
      '--appendfsync', 'always', '--daemonize', 'no', '--protected-mode', 'no', '--loglevel', 'warning',
    ]; // prettier-ignore
    child = spawn('sh', ['-c', WATCHDOG, 'watchdog', String(process.pid), REDIS_SERVER, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (data: Buffer) => (stderr += data.toString()));
    pid = undefined;
    child.stdout?.once('data', (data: Buffer) => (pid = Number(String(data).trim()) || undefined));
    try {
      await waitForPong(port, 10_000);
    } catch (error) {
      await kill();
      throw new Error(`${(error as Error).message}: ${stderr}`);
    }
  };

  const proxy = async (): Promise<RedisProxy> => {
    let open = true;
    const server = net.createServer((client) => {
      if (!open) return client.destroy();
      const upstream = net.connect(port, '127.0.0.1');
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      pairs.set(client, upstream);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      links.add(client);
      client.on('close', () => links.delete(client));
    });
    const links = new Set<net.Socket>();
    const pairs = new Map<net.Socket, net.Socket>();
    proxies.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port: proxyPort } = server.address() as net.AddressInfo;
    return {
      url: `redis://127.0.0.1:${proxyPort}`,
      cut() {
        open = false;
        for (const link of links) link.destroy();
      },
      freeze() {
        open = false;
        for (const [client, upstream] of pairs) {
          client.unpipe(upstream);
          upstream.unpipe(client);
          client.pause();
          upstream.pause();
        }
      },
      restore() {
        open = true;
      },
    };
  };

  t.teardown(async () => {
    for (const server of proxies) server.close();
    for (const socket of sockets) socket.destroy();
    await kill();
    rmSync(dir, { recursive: true, force: true });
  });
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    start,
    kill,
    restart: async () => {
      await kill();
      await start();
    },
    proxy,
  };
}
