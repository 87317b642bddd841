// Attack (third outside review): the native I/O path opens a dup() of the socket's descriptor
// (native/uv_transport.cc, UvTransport::Open: `const int copy = dup(fd);`). dup() does not carry
// FD_CLOEXEC, while every descriptor node and libuv open is close-on-exec, so each live native
// connection's socket is inherited by every child process the app spawns (child_process.spawn,
// exec, a worker pool of processes). Two consequences: a child (perhaps less trusted: a shell
// command, a converter) can read and write the raw connection; and closing the connection in the
// server no longer closes it on the wire: the peer sees no FIN, and the descriptor (and the TCP
// connection) lives as long as the child does.
//
// Shown, for each path: the server spawns a long-lived child while a connection is open, then
// destroys the connection. On the stream path the client sees its close at once; on the native
// path it does not, the child still holds the socket.
//
// Suggested fix: duplicate with close-on-exec, `fcntl(fd, F_DUPFD_CLOEXEC, 0)` (or dup3 with
// O_CLOEXEC on Linux), as libuv's own uv__dup does.
import t from 'tap';
import { spawn } from 'node:child_process';
import { connect, type TLSSocket } from '../dist/index.js';
import { certs } from './helpers/certs';
import { startServer } from './helpers/mtls';
import { waitFor, SOON } from './helpers/owned';

const posix = process.platform !== 'win32';

for (const native of [true, false]) {
  const path = native ? 'native path' : 'stream path';
  t.test(
    `${path}: a child process spawned meanwhile does not keep a closed connection open`,
    { skip: !posix },
    async (t) => {
      const { server, port } = await startServer(t, {
        key: certs.serverKey,
        cert: certs.serverChain,
        nativeTransport: native,
      });
      const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
      const client = connect({
        host: '127.0.0.1',
        port,
        ca: certs.ca,
        servername: 'localhost',
        nativeTransport: native,
      });
      client.on('error', () => {});
      t.teardown(() => client.destroy());
      await waitFor(client, 'secureConnect', SOON);
      const [socket] = await accepted;
      t.equal(socket.nativeTransport, native, `the server is on the ${path}`);
      // Any child the app runs while connections are open: here one that lives for a while.
      const child = spawn('sleep', ['30'], { stdio: 'ignore' });
      t.teardown(() => child.kill('SIGKILL'));
      const clientClosed = new Promise<boolean>((resolve) => {
        client.once('close', () => resolve(true));
        setTimeout(() => resolve(false), 3000);
      });
      socket.destroy();
      t.equal(await clientClosed, true, 'the client sees the connection close within 3 s');
    },
  );
}
