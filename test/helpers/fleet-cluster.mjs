// node:cluster behind one port (run by test/fleet-cluster.test.ts): the primary forks three
// workers, each joins the fleet and serves an owned mTLS Server on the shared port. The primary
// connects clients of two identities (the cluster spreads them over the workers), revokes one
// identity's email through a fleet of its own, and prints one JSON line: which clients were cut,
// and which worker held each.
//   argv: redisUrl fleetName
import cluster from 'node:cluster';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { once } from 'node:events';
import { createFleet, createServer, DevelopmentCA } from '../../dist/index.mjs';

const [redis, name] = process.argv.slice(2);
const WORKERS = 3;

if (cluster.isPrimary) {
  const ca = await DevelopmentCA.create();
  const server = await ca.issueServer({ commonName: 'localhost' });
  const alice = await ca.issueClient({ commonName: 'alice', altNames: ['alice@example.com'] });
  const bob = await ca.issueClient({ commonName: 'bob', altNames: ['bob@example.com'] });
  // A port free now, for the workers to share (cluster's primary owns the listening socket).
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address();
  probe.close();
  const workers = [];
  for (let i = 0; i < WORKERS; i++) {
    const worker = cluster.fork({
      FLEET_PKI: JSON.stringify({ ca: ca.rootCert, key: server.key, chain: server.chain, port }),
    });
    workers.push(worker);
  }
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
  const clients = [];
  for (let i = 0; i < 12; i++) {
    const identity = i % 2 ? bob : alice;
    const client = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: ca.rootCert,
      key: identity.key,
      cert: identity.chain,
    });
    client.on('error', () => {});
    await once(client, 'secureConnect');
    client.write('who');
    const [pid] = await once(client, 'data');
    clients.push({ who: identity === bob ? 'bob' : 'alice', pid: Number(String(pid)), client, cut: false });
    client.on('close', () => (clients.find((c) => c.client === client).cut = true));
  }
  const fleet = await createFleet({ redis, name });
  await fleet.revokeSubject({ format: 'email', email: 'bob@example.com' });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && clients.some((c) => c.who === 'bob' && !c.cut))
    await new Promise((r) => setTimeout(r, 20));
  // Give a wrongly cut alice connection the time to show.
  await new Promise((r) => setTimeout(r, 300));
  const pings = await Promise.all(
    clients.map(async (c) => {
      if (c.cut) return 'closed';
      c.client.write('who');
      const answer = await Promise.race([
        once(c.client, 'data').then(() => 'open'),
        new Promise((r) => setTimeout(() => r('closed'), 2000)),
      ]);
      return answer;
    }),
  );
  process.stdout.write(
    `${JSON.stringify({
      workers: workers.map((w) => w.process.pid),
      clients: clients.map((c, i) => ({ who: c.who, pid: c.pid, state: pings[i] })),
    })}\n`,
  );
  for (const c of clients) c.client.destroy();
  await fleet.close();
  for (const w of workers) w.kill();
} else {
  const { ca, key, chain, port } = JSON.parse(process.env.FLEET_PKI);
  const fleet = await createFleet({ redis, name });
  const server = createServer({ key, cert: chain, ca, requestCert: true, rejectUnauthorized: true }, (socket) => {
    socket.on('error', () => {});
    socket.on('data', () => socket.write(String(process.pid)));
  });
  fleet.watch(server);
  server.listen(port, '127.0.0.1', () => process.send('listening'));
  process.on('disconnect', () => process.exit(0));
}
