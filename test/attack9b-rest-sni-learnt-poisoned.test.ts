// Attack: behind an app's SNICallback, what a name's resumed sessions are judged under is learnt
// from each socket at its first REST request (lib/http/node-server-trust.ts verifyingContext), not
// at its handshake: a connection opened before the app rotated the name's context, and kept idle,
// overwrites what a newer full handshake taught with the old context the moment it sends its first
// request. A client whose CA the tenant dropped (its full handshakes now refused by node, and its
// resumed sessions refused once a legitimate client's full handshake taught the new context) keeps
// one such connection in reserve, sends one request on it, and from then on its resumed sessions
// (and every other client's for that name) are judged under the old context again: served 200.
//
// The fix: learn the choice at the handshake (the 'secureConnection' event, or the SNICallback's
// answer itself by wrapping the server's kSNICallback), in handshake order, so a late first request
// cannot replace a newer choice; better, record the verifying trust per session (its ticket / id)
// rather than per name.
import t, { type Test } from 'tap';
import * as tls from 'node:tls';
import { certs } from './helpers/certs';
import { waitFor, SOON } from './helpers/owned';
import { rawHttp } from './helpers/raw-http';
import { serveHttps, tlsClient, answerResumed } from './helpers/https-resumption';

interface Client {
  socket: tls.TLSSocket;
  session: Promise<Buffer | undefined>;
  connected: boolean;
}

async function connect(t: Test, port: number, key: string, cert: string, session?: Buffer): Promise<Client> {
  const socket = tlsClient(t, { port, servername: 'tenant.localhost', key, cert, session });
  const ticket = new Promise<Buffer | undefined>((resolve) => {
    socket.once('session', resolve);
    socket.once('close', () => resolve(undefined));
  });
  const connected = await waitFor(socket, 'secureConnect', SOON).then(
    () => true,
    () => false,
  );
  return { socket, session: ticket, connected };
}

async function get(client: Client): Promise<string> {
  if (!client.connected) return 'handshake refused';
  const closed = new Promise<string>((resolve) => client.socket.once('close', () => resolve('closed')));
  return Promise.race([
    rawHttp(client.socket)('GET', '/').then(
      (reply) => `${reply.status} ${String(reply.body)}`,
      () => 'closed',
    ),
    closed,
  ]);
}

t.test("an idle connection's first request does not bring back a rotated-out context", async (t) => {
  const identity = { key: certs.serverKey, cert: certs.serverChain };
  const before = tls.createSecureContext({ ...identity, ca: certs.ca });
  const after = tls.createSecureContext({ ...identity, ca: certs.wrongCa });
  let current = before;
  const { port } = await serveHttps(t, {
    tls: { ca: certs.wrongCa, SNICallback: (_name, cb) => cb(null, current) },
    answer: answerResumed,
    setup: (server) => (server.keepAliveTimeout = 30_000),
  });

  // The client of the CA the tenant will drop: a connection kept idle, and its session.
  const reserve = await connect(t, port, certs.clientKey, certs.clientChain);
  t.ok(reserve.connected, 'a connection made before the rotation');
  const session = await reserve.session;
  t.ok(session, 'with its session');

  current = after; // the tenant now trusts only its new CA
  const legit = await connect(t, port, certs.clientWrongCaKey, certs.clientWrongCaChain);
  t.equal(await get(legit), '200 resumed=false', "a client of the tenant's new CA is served");
  const refused = await get(await connect(t, port, certs.clientKey, certs.clientChain));
  t.notMatch(refused, /^200/, `a full handshake of the dropped CA's client is refused (${refused})`);
  const early = await get(await connect(t, port, certs.clientKey, certs.clientChain, session));
  t.notMatch(early, /^200/, `and so is its resumed session (${early})`);

  await get(reserve); // one request on the idle connection
  const resumed = await get(await connect(t, port, certs.clientKey, certs.clientChain, session));
  t.notMatch(resumed, /^200/, `after a request on its idle connection, its resumed session is refused (${resumed})`);
});
