// Server memory per idle mTLS connection: continuous-tls must hold no more than node:tls for the
// same connections. Both servers run in processes of their own; the same node:tls clients open
// the connections, each sends one record and reads the echo, then idles. The RSS growth over the
// measured connections, after a warm-up that lets the allocators reach their working size, is the
// memory per connection. An idle connection keeps no record or ciphertext buffer: a server's
// connections are idle most of the time, and a buffer kept per connection would cost each of them
// the largest record or chunk it ever carried.
import t, { type Test } from 'tap';
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { once } from 'node:events';
import { certs } from '../helpers/certs';

const WARM_UP = 200;
const MEASURED = 1000;
const BATCH = 50;
// RSS per connection moves by a few percent between runs; a buffer kept per connection is tens
// of percent.
const MARGIN = 1.08;

interface Measure {
  rss: number;
  live: number;
}

function ask(child: ChildProcess, message: object | string): Promise<Measure> {
  const answer = once(child, 'message') as Promise<[Measure]>;
  child.send(message);
  return answer.then(([value]) => value);
}

async function openIdle(port: number, count: number, sockets: tls.TLSSocket[]): Promise<void> {
  for (let done = 0; done < count; done += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, count - done) }, async () => {
      const socket = tls.connect({
        port,
        host: '127.0.0.1',
        key: certs.clientKey,
        cert: certs.clientChain,
        ca: certs.ca,
        servername: 'localhost',
        minVersion: 'TLSv1.3',
      });
      sockets.push(socket);
      socket.on('error', () => {});
      await once(socket, 'secureConnect');
      socket.write('x'.repeat(1024));
      await once(socket, 'data');
    });
    await Promise.all(batch);
  }
}

async function perConnection(t: Test, stack: 'owned' | 'node'): Promise<number> {
  const child = fork(join(__dirname, 'idle-memory-worker.js'), [stack], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const sockets: tls.TLSSocket[] = [];
  try {
    const { port } = (await ask(child, {
      certs: { ca: certs.ca, serverKey: certs.serverKey, serverChain: certs.serverChain },
    })) as unknown as { port: number };
    await openIdle(port, WARM_UP, sockets);
    const before = await ask(child, 'measure');
    await openIdle(port, MEASURED, sockets);
    const after = await ask(child, 'measure');
    t.equal(after.live, WARM_UP + MEASURED, `${stack}: every connection is live on the server`);
    return (after.rss - before.rss) / MEASURED;
  } finally {
    for (const socket of sockets) socket.destroy();
    child.kill();
  }
}

t.test('an idle mTLS connection costs the server no more memory than node:tls', async (t) => {
  // Interleaved, so that a change in the machine's load hits both stacks.
  const owned: number[] = [];
  const node: number[] = [];
  for (let round = 0; round < 2; round++) {
    node.push(await perConnection(t, 'node'));
    owned.push(await perConnection(t, 'owned'));
  }
  const kb = (bytes: number): string => (bytes / 1024).toFixed(1);
  const ownedBest = Math.min(...owned);
  const nodeBest = Math.min(...node);
  t.comment(`per idle connection: owned ${owned.map(kb).join(', ')} KB; node:tls ${node.map(kb).join(', ')} KB`);
  t.ok(
    ownedBest <= nodeBest * MARGIN,
    `owned ${kb(ownedBest)} KB <= node:tls ${kb(nodeBest)} KB x ${MARGIN} per idle connection`,
  );
});
