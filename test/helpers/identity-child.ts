/**
 * One owned-tier client whose `identity` provider the test writes as source, run in a child
 * process against a loopback server: a hostile value that crashed the library would take the test
 * runner down with it, so the child's exit status tells instead. The child prints
 * `client error <code>` and `client closed` as they happen, and exits 3 if the connection is still
 * open after 4.5 seconds.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { certs } from './certs';

const dist = join(__dirname, '..', '..', 'dist');

export interface ChildRun {
  status: number | null;
  stdout: string;
  /** The first lines of stderr, joined: enough to say why a child crashed. */
  stderr: string;
}

/**
 * Runs the client with `identity` (a JavaScript expression for the option's value; `certs` holds
 * the fixture PEMs) after `prelude` (declarations the expression uses).
 */
export function runIdentityClient(identity: string, prelude = ''): ChildRun {
  const script = `
const { createServer, connect, ContinuousTlsError } = require(${JSON.stringify(join(dist, 'index.js'))});
const certs = JSON.parse(process.env.CERTS);
${prelude}
const server = createServer({
  key: certs.serverKey,
  cert: certs.serverChain,
  ca: certs.ca,
  requestCert: true,
  rejectUnauthorized: false,
});
server.on('tlsClientError', () => {});
server.on('secureConnection', (socket) => socket.on('error', () => {}));
server.listen(0, '127.0.0.1', () => {
  const client = connect({
    port: server.address().port,
    host: '127.0.0.1',
    servername: 'localhost',
    ca: certs.ca,
    identity: ${identity},
    identityTimeout: 3000,
  });
  client.on('error', (error) => console.log('client error ' + error.code));
  client.on('close', () => {
    console.log('client closed');
    server.close();
  });
});
setTimeout(() => { console.log('timeout'); process.exit(3); }, 4500).unref();
`;
  const child = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, CERTS: JSON.stringify(certs) },
    encoding: 'utf8',
    timeout: 10_000,
  });
  return {
    status: child.status,
    stdout: child.stdout.replace(/\n/g, ' '),
    stderr: child.stderr.split('\n').slice(0, 4).join(' | '),
  };
}
