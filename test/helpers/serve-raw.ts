/** A request handler served on 127.0.0.1 and a client that sends raw request-targets (absolute-form too). */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { rawHttp, type RawReply } from './raw-http';

export async function serveRaw(
  t: Test,
  handler: http.RequestListener | http.Server,
): Promise<(target: string) => Promise<RawReply>> {
  // A server passed in listening (Fastify's) is closed by its owner.
  const server = handler instanceof http.Server ? handler : http.createServer(handler);
  if (!server.listening) {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    });
  }
  return async (target: string) => {
    // One connection per request: a 400 may close it.
    const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    try {
      return await rawHttp(socket)('GET', target);
    } finally {
      socket.destroy();
    }
  };
}
