// The native path holds two descriptors per connection (the net.Socket's and the addon's
// close-on-exec copy). Past half the process's descriptor limit, connections take the stream path,
// which needs no more, so the native path never costs a server the connections node:tls would hold
// under the same limit. The server runs in a child process whose limit is set low with
// `ulimit -n`; more connections arrive than that limit allows on the native path alone (two
// descriptors each), and every one of them is served.
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { once } from 'node:events';
import { certs } from './helpers/certs';

const LIMIT = 128;
const CONNECTIONS = 60;

const serverScript = `
const { createServer } = require(${JSON.stringify(join(__dirname, '..', 'dist', 'index.js'))});
const certs = JSON.parse(process.env.CTLS_CERTS);
let native = 0, stream = 0, failed = 0;
const server = createServer(
  { key: certs.serverKey, cert: certs.serverChain, ca: certs.ca, requestCert: true },
  (socket) => {
    if (socket.nativeTransport) native += 1; else stream += 1;
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('error', () => {});
  },
);
server.on('tlsClientError', () => (failed += 1));
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
process.stdin.on('data', () => console.log(JSON.stringify({ native, stream, failed })));
`;

const posix = process.platform !== 'win32';

t.test('past half the descriptor limit, connections take the stream path', { skip: !posix }, async (t) => {
  const child = spawn('bash', ['-c', `ulimit -n ${LIMIT} && exec "${process.execPath}" -e "$CTLS_SCRIPT"`], {
    env: { ...process.env, CTLS_SCRIPT: serverScript, CTLS_CERTS: JSON.stringify(certs) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.teardown(() => child.kill());
  const lines: string[] = [];
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
  });
  const nextLine = async (): Promise<Record<string, number>> => {
    const deadline = Date.now() + 10_000;
    while (lines.length === 0) {
      if (Date.now() > deadline) throw new Error('the server said nothing');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return JSON.parse(lines.shift()!) as Record<string, number>;
  };
  const { port } = await nextLine();
  const sockets: tls.TLSSocket[] = [];
  t.teardown(() => sockets.forEach((socket) => socket.destroy()));
  for (let i = 0; i < CONNECTIONS; i++) {
    const socket = tls.connect({
      port: port!,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: certs.ca,
      key: certs.clientKey,
      cert: certs.clientChain,
    });
    sockets.push(socket);
    await once(socket, 'secureConnect');
    socket.write(`ping ${i}`);
    const [echo] = (await once(socket, 'data')) as [Buffer];
    t.equal(echo.toString(), `ping ${i}`, `connection ${i} is served`);
  }
  child.stdin.write('\n');
  const counts = await nextLine();
  t.equal(counts.failed, 0, 'no connection failed');
  t.equal(counts.native! + counts.stream!, CONNECTIONS, 'every connection was served');
  t.ok(counts.native! > 0, `${counts.native} connections on the native path`);
  t.ok(counts.stream! > 0, `${counts.stream} connections on the stream path once descriptors ran short`);
});
