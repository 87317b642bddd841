// TLSSocket works where node expects a socket: node:http serves HTTP/1.1 over our server
// connections, and an http.Agent whose createConnection uses our connect() talks to node:https.
import t from 'tap';
import * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';
import { randomBytes, createHash } from 'node:crypto';
import { createServer, connect, TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { listen } from './helpers/owned';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  socket: net.Socket;
}

function request(
  options: https.RequestOptions & http.RequestOptions,
  body?: Buffer,
  transport: typeof https | typeof http = https,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = transport.request(options, (res) => {
      // A keep-alive agent detaches the socket once the response ends: take it now.
      const socket = res.socket;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), socket }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
    req.end(body);
  });
}

t.test('node:http serves keep-alive HTTP/1.1 over our server sockets', async (t) => {
  const tlsConnections: TLSSocket[] = [];
  let served = 0;
  const httpServer = http.createServer((req, res) => {
    served++;
    const socket = req.socket as unknown as TLSSocket;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      res.setHeader('x-peer', String((socket.getPeerCertificate() as { subject?: { CN?: string } }).subject?.CN));
      res.setHeader('x-tls', `${socket instanceof TLSSocket} ${socket.getProtocol()} ${socket.alpnProtocol}`);
      res.setHeader('x-body-sha256', createHash('sha256').update(body).digest('hex'));
      res.end(`${req.method} ${req.url} #${served}`);
    });
  });
  t.teardown(() => httpServer.close());
  const server = createServer({
    key: certs.serverKey,
    cert: certs.serverChain,
    ca: certs.ca,
    requestCert: true,
    ALPNProtocols: ['http/1.1'],
  });
  server.on('secureConnection', (socket) => {
    tlsConnections.push(socket);
    httpServer.emit('connection', socket);
  });
  const port = await listen(t, server);

  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: 1,
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientChain,
    ALPNProtocols: ['http/1.1'],
  });
  t.teardown(() => agent.destroy());
  const base = { host: '127.0.0.1', port, servername: 'localhost', agent };

  const sockets = new Set<net.Socket>();
  for (let i = 1; i <= 5; i++) {
    const reply = await request({ ...base, path: `/item/${i}` });
    sockets.add(reply.socket);
    t.equal(reply.status, 200);
    t.equal(reply.body.toString(), `GET /item/${i} #${i}`);
    t.equal(reply.headers['x-peer'], 'alice', 'the handler sees the client certificate');
    t.equal(reply.headers['x-tls'], 'true TLSv1.3 http/1.1', 'our TLSSocket, its protocol and ALPN');
    t.equal(reply.headers.connection, 'keep-alive');
  }
  const upload = randomBytes(3 * 1024 * 1024);
  const posted = await request(
    { ...base, method: 'POST', path: '/upload', headers: { 'content-length': upload.length } },
    upload,
  );
  t.equal(
    posted.headers['x-body-sha256'],
    createHash('sha256').update(upload).digest('hex'),
    'a 3 MB body arrives intact',
  );
  sockets.add(posted.socket);

  t.equal(tlsConnections.length, 1, 'one TLS connection carried every request');
  t.equal(sockets.size, 1, 'the client reused its socket');
  t.equal(served, 6);

  // The HTTP server's keep-alive machinery can close our socket cleanly.
  agent.destroy();
  await new Promise<void>((resolve) =>
    tlsConnections[0]!.closed ? resolve() : tlsConnections[0]!.once('close', () => resolve()),
  );
  t.equal(server.connections().length, 0, 'closed on both sides');
});

t.test('an http.Agent using our connect() talks to a node:https server', async (t) => {
  const seen: string[] = [];
  const httpsServer = https.createServer(
    { key: certs.serverKey, cert: certs.serverChain, ca: certs.ca, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const socket = req.socket as import('node:tls').TLSSocket;
      seen.push(`${socket.remotePort}`);
      req.resume();
      req.on('end', () => res.end(`hello ${socket.getPeerCertificate().subject.CN} at ${req.url}`));
    },
  );
  const port = await listen(t, httpsServer);

  class OwnedTlsAgent extends http.Agent {
    created = 0;
    override createConnection(
      options: http.ClientRequestArgs,
      callback?: (error: Error | null, socket: net.Socket) => void,
    ): net.Socket {
      this.created++;
      const socket = connect({
        host: options.host ?? '127.0.0.1',
        port: Number(options.port),
        servername: 'localhost',
        ca: certs.ca,
        key: certs.clientKey,
        cert: certs.clientChain,
      });
      if (callback !== undefined) {
        socket.once('secureConnect', () => callback(null, socket as unknown as net.Socket));
        socket.once('error', (error) => callback(error, socket as unknown as net.Socket));
        return undefined as unknown as net.Socket;
      }
      return socket as unknown as net.Socket;
    }
  }
  const agent = new OwnedTlsAgent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());

  for (let i = 1; i <= 4; i++) {
    const reply = await request({ host: '127.0.0.1', port, path: `/r${i}`, agent }, undefined, http);
    t.equal(reply.status, 200);
    t.equal(reply.body.toString(), `hello alice at /r${i}`);
    t.ok(reply.socket instanceof TLSSocket, 'the request ran over our TLSSocket');
  }
  t.equal(agent.created, 1, 'one connection, kept alive');
  t.equal(new Set(seen).size, 1, 'the server saw one client port');

  // A POST with a body and a second connection in parallel.
  const parallel = new OwnedTlsAgent({ keepAlive: false, maxSockets: 4 });
  t.teardown(() => parallel.destroy());
  const replies = await Promise.all(
    [1, 2, 3].map((i) =>
      request(
        { host: '127.0.0.1', port, path: `/p${i}`, method: 'POST', agent: parallel },
        Buffer.from('x'.repeat(100_000)),
        http,
      ),
    ),
  );
  t.same(
    replies.map((reply) => reply.body.toString()),
    ['hello alice at /p1', 'hello alice at /p2', 'hello alice at /p3'],
  );
  t.equal(parallel.created, 3);
});
