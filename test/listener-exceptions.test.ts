// An app listener that throws ('decision' on the server, 'reauthorized' or 'deauthorized' on the
// socket) cannot undo or skip a decision: the engine puts each decision in force (gate, destroy,
// next check, other connections of a sweep) before any listener runs, and the listener's exception
// is re-thrown on the next tick, where it surfaces like an exception from any Node event listener.
import t, { type Test } from 'tap';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import {
  connect,
  createServer,
  DevelopmentCA,
  reauthorize,
  type Server,
  type ServerOptions,
  type TLSSocket,
} from '../dist/index.js';
import { catchUncaught } from './helpers/uncaught';

async function setup(t: Test, options: ServerOptions, names: string[]) {
  const ca = await DevelopmentCA.create();
  const serverId = await ca.issueServer({ commonName: 'localhost' });
  const ids = await Promise.all(names.map((commonName) => ca.issueClient({ commonName })));
  const server: Server = createServer({
    key: serverId.key,
    cert: serverId.chain,
    ca: ca.rootCert,
    requestCert: true,
    crl: await ca.crls(),
    ...options,
  });
  const received = new Map<string, number>();
  const sockets = new Map<string, TLSSocket>();
  server.on('secureConnection', (socket) => {
    const cn = String(socket.getPeerCertificate().subject?.CN ?? '');
    sockets.set(cn, socket);
    received.set(cn, 0);
    socket.on('data', (chunk) => received.set(cn, (received.get(cn) ?? 0) + chunk.length));
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const clients: TLSSocket[] = [];
  for (const id of ids) {
    const client = connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: ca.rootCert,
      key: id.key,
      cert: id.chain,
    });
    client.on('error', () => {});
    await once(client, 'secureConnect');
    clients.push(client);
  }
  while (sockets.size < names.length) await delay(10);
  t.teardown(() => {
    for (const client of clients) client.destroy();
    server.close();
  });
  return { ca, server, clients, sockets, received, ids };
}

t.test('a throwing decision listener does not cancel a denial', async (t) => {
  const caught = catchUncaught(t);
  let revoked = false;
  const { server, clients, sockets, received } = await setup(
    t,
    { policy: () => ({ allow: !revoked, reason: revoked ? 'revoked' : 'ok' }), reauthorize: { every: 0 } },
    ['mallory'],
  );
  server.on('decision', (event) => {
    if (event.outcome === 'deny') throw new Error('audit sink down');
  });
  const socket = sockets.get('mallory')!;
  revoked = true;
  const decision = await reauthorize(socket, { destroyOnDeny: true }).catch((error: Error) => error);
  t.notOk(decision instanceof Error && decision.message === 'audit sink down', 'the listener error is not the answer');
  await delay(20);
  t.ok(socket.destroyed, 'the denied connection is closed');
  const before = received.get('mallory')!;
  clients[0]!.write('after the denial');
  await delay(100);
  t.equal(received.get('mallory'), before, 'no byte reaches the app after the denial');
  t.match(caught, [{ message: 'audit sink down' }], 'the listener error surfaces on its own tick');
});

t.test('a throwing decision listener during a CRL sweep: the revoked one is cut, the others flow', async (t) => {
  const caught = catchUncaught(t);
  const { ca, server, clients, sockets, received, ids } = await setup(t, { reauthorize: { every: 0 } }, [
    'revoked',
    'innocent',
  ]);
  server.on('decision', (event) => {
    if (event.outcome === 'deny') throw new Error('audit sink down');
  });
  ca.revoke(ids[0]!.serial);
  await server.setCrl(await ca.crls());
  await delay(20);
  t.ok(sockets.get('revoked')!.destroyed, 'the revoked connection is closed');
  t.notOk(sockets.get('innocent')!.destroyed, 'the other one stays');
  t.notOk(sockets.get('innocent')!.gateHeld, "and the sweep's hold on it was released");
  received.set('innocent', 0);
  clients[1]!.write('still here');
  while (received.get('innocent') === 0) await delay(10);
  t.equal(received.get('innocent'), 'still here'.length, 'its data flows');
  t.match(caught, [{ message: 'audit sink down' }]);
});

t.test('a throwing reauthorized listener does not stop later re-checks', async (t) => {
  const caught = catchUncaught(t);
  let revoked = false;
  const { sockets } = await setup(
    t,
    { policy: () => ({ allow: !revoked, reason: revoked ? 'revoked' : 'ok' }), reauthorize: { every: 100 } },
    ['mallory'],
  );
  const socket = sockets.get('mallory')!;
  let thrown = false;
  socket.on('reauthorized', () => {
    if (!thrown) {
      thrown = true;
      throw new Error('metrics hook bug');
    }
  });
  while (!thrown) await delay(20);
  revoked = true;
  const deadline = Date.now() + 5000;
  while (!socket.destroyed && Date.now() < deadline) await delay(20);
  t.ok(socket.destroyed, 'the next interval re-check still ran and cut the connection');
  t.match(caught, [{ message: 'metrics hook bug' }]);
});

t.test('a throwing deauthorized listener does not keep the connection open', async (t) => {
  const caught = catchUncaught(t);
  let revoked = false;
  const { sockets } = await setup(
    t,
    { policy: () => ({ allow: !revoked, reason: revoked ? 'revoked' : 'ok' }), reauthorize: { every: 0 } },
    ['mallory'],
  );
  const socket = sockets.get('mallory')!;
  socket.on('deauthorized', () => {
    throw new Error('alerting bug');
  });
  revoked = true;
  const decision = await reauthorize(socket);
  t.equal(decision.allow, false);
  await delay(20);
  t.ok(socket.destroyed, 'closed despite the listener');
  t.match(caught, [{ message: 'alerting bug' }]);
});
