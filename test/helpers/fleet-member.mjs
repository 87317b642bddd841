// One member of a fleet in its own process (forked by test/fleet-processes.test.ts): an owned
// Server and an attached node:tls server, both watched by one fleet, and live mTLS clients of
// several identities to each. The parent drives it over IPC:
//   { op: 'start', redis, name, pki }          -> { op: 'ready', member, connections: [labels] }
//   { op: 'publish', event }                   -> { op: 'published', id }
//   { op: 'check', id }                        -> { op: 'checked', applied, connections: { label: 'open'|'closed' } }
//   { op: 'exit' }                             closes everything and exits 0
import * as tls from 'node:tls';
import { once } from 'node:events';
import { attach, createFleet, createServer } from '../../dist/index.mjs';

const state = { fleet: undefined, servers: [], clients: new Map(), attachment: undefined };

function echo(socket) {
  socket.on('error', () => {});
  socket.pipe(socket);
}

async function listen(server) {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server.address().port;
}

async function connectClient(port, pki, identity) {
  const client = tls.connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.ca,
    key: identity.key,
    cert: identity.chain,
  });
  client.on('error', () => {});
  await once(client, 'secureConnect');
  // The handshake completes before the server's first decision; an echo proves the connection is admitted.
  client.write('hello');
  await once(client, 'data');
  return client;
}

/** 'open' when the connection still echoes within 2 s, else 'closed'. */
async function probe(client) {
  if (client.destroyed || client.readyState !== 'open') return 'closed';
  return new Promise((resolve) => {
    const timer = setTimeout(() => done('closed'), 2000);
    const onData = () => done('open');
    const onClose = () => done('closed');
    function done(result) {
      clearTimeout(timer);
      client.off('data', onData);
      client.off('close', onClose);
      resolve(result);
    }
    client.once('data', onData);
    client.once('close', onClose);
    client.write('ping');
  });
}

async function start({ redis, name, pki }) {
  const fleet = await createFleet({ redis, name });
  state.fleet = fleet;
  const options = {
    key: pki.server.key,
    cert: pki.server.chain,
    ca: pki.ca,
    requestCert: true,
    rejectUnauthorized: true,
  };
  const owned = createServer(options, echo);
  const plain = tls.createServer(options, echo);
  const attachment = attach(plain, { ca: pki.ca });
  state.attachment = attachment;
  state.servers.push(owned, plain);
  fleet.watch(owned).watch(attachment);
  const ports = { owned: await listen(owned), attached: await listen(plain) };
  for (const [tier, port] of Object.entries(ports))
    for (const identity of pki.identities)
      for (let i = 0; i < 2; i++)
        state.clients.set(`${tier}:${identity.name}:${i}`, await connectClient(port, pki, identity));
  return { op: 'ready', member: fleet.member, connections: [...state.clients.keys()] };
}

async function check({ id }) {
  const last = state.fleet.status().lastEventId;
  const connections = {};
  await Promise.all([...state.clients].map(async ([label, client]) => (connections[label] = await probe(client))));
  return { op: 'checked', applied: last, wanted: id, connections };
}

async function exit() {
  for (const client of state.clients.values()) client.destroy();
  await state.fleet?.close();
  state.attachment?.detach();
  for (const server of state.servers) server.close();
  process.exit(0);
}

process.on('message', async (message) => {
  try {
    if (message.op === 'start') process.send(await start(message));
    else if (message.op === 'publish')
      process.send({ op: 'published', id: (await state.fleet.publish(message.event)).id });
    else if (message.op === 'check') process.send(await check(message));
    else if (message.op === 'exit') await exit();
  } catch (error) {
    process.send({ op: 'error', message: String(error?.stack ?? error) });
  }
});
process.on('disconnect', () => process.exit(0));
