// A write whose data is an array reads every element before any of it is encrypted. An element that
// cannot be read (its getter throws, or the environment is being torn down and no read succeeds)
// refuses the whole write: the elements before it must not go out alone, as a truncated message the
// peer would take for the whole of it.
import t from 'tap';
import { contextHandle, createSecureContext } from '../dist/tls/context.js';
import { native } from '../dist/tls/native.js';
import { certs } from './helpers/certs';

type Cycle = [Buffer | null, Buffer | null, number, unknown, number, Buffer | null];
interface Handle {
  cycle(ciphertext?: Buffer): Cycle;
  write(data: unknown): unknown;
  getInfo(): { handshakeDone: boolean };
  destroy(): void;
}

function connectedPair(): { client: Handle; server: Handle } {
  const serverContext = createSecureContext({ key: certs.serverKey, cert: certs.serverChain }, true);
  const clientContext = createSecureContext({ ca: certs.ca }, false);
  const Connection = (native as unknown as { TlsConnection: new (...args: unknown[]) => Handle }).TlsConnection;
  const server = new Connection(contextHandle(serverContext), true, { requestCert: false });
  const client = new Connection(contextHandle(clientContext), false, { servername: 'localhost' });
  let toServer = client.cycle()[1];
  for (let i = 0; i < 10 && toServer !== null; i++) {
    const toClient = server.cycle(toServer)[1];
    toServer = toClient === null ? null : client.cycle(toClient)[1];
  }
  return { client, server };
}

/** What the server reads of `ciphertext`, as text; '' for none. */
function serverReads(server: Handle, ciphertext: Buffer | null | undefined): string {
  if (ciphertext === null || ciphertext === undefined) return '';
  const [plaintext, , , error, placed, own] = server.cycle(ciphertext);
  if (error !== null) return `error: ${String((error as { code?: string }).code)}`;
  return (own ?? Buffer.alloc(0)).subarray(0, placed).toString() + (plaintext ?? Buffer.alloc(0)).toString();
}

t.test('an element that throws when read refuses the whole write', async (t) => {
  const { client, server } = connectedPair();
  t.ok(client.getInfo().handshakeDone, 'the pair is connected');
  const list: unknown[] = [Buffer.from('first')];
  Object.defineProperty(list, 1, {
    enumerable: true,
    get() {
      throw new Error('unreadable');
    },
  });
  list.push(Buffer.from('third'));
  t.throws(() => client.write(list), /unreadable/, "the getter's error reaches the caller");
  t.equal(client.cycle()[1], null, 'nothing of the write waits to go out');
  // Had 'first' been sealed, its record would be lost with the throw, and the next record would
  // fail the server's check of the record sequence.
  const after = client.write([Buffer.from('after')]) as Cycle;
  t.equal(serverReads(server, after[1]), 'after', 'the next write is the next record the server reads');
  client.destroy();
  server.destroy();
});
