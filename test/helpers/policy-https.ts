/** HTTPS servers with optional client certificates, and a small undici client, for the REST tests. */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Test } from 'tap';
import { Pool } from 'undici';
import { certs } from './certs';

/** Server TLS options: requests (but does not require) a client certificate, so token-only clients work. */
export const serverTls = {
  key: certs.serverKey,
  cert: certs.serverChain,
  ca: certs.ca,
  requestCert: true,
  rejectUnauthorized: false,
} as const;

export async function startHttps(
  t: Test,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<string> {
  const server = https.createServer(serverTls, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export type Identity = 'alice' | 'bob' | 'wrongCa' | 'none';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): Record<string, unknown>;
}

/** A keep-alive client presenting one identity. Closed at teardown. */
export function client(t: Test, url: string, identity: Identity = 'alice') {
  const tls = { ca: certs.ca, servername: 'localhost' } as Record<string, string>;
  if (identity === 'alice') Object.assign(tls, { cert: certs.clientChain, key: certs.clientKey });
  if (identity === 'bob') Object.assign(tls, { cert: certs.client2Chain, key: certs.client2Key });
  if (identity === 'wrongCa') Object.assign(tls, { cert: certs.clientWrongCaChain, key: certs.clientWrongCaKey });
  const pool = new Pool(url, { connect: tls, connections: 4 });
  t.teardown(() => pool.destroy());
  return async (method: string, path: string, headers: Record<string, string> = {}): Promise<Reply> => {
    const res = await pool.request({
      method: method as 'GET',
      path,
      headers,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const body = await res.body.text();
    return {
      status: res.statusCode,
      headers: res.headers,
      body,
      json: () => JSON.parse(body) as Record<string, unknown>,
    };
  };
}
