// Attack: two replicas share ticket keys (as a fleet does, so sessions resume on any of them) and
// trust the same CAs, root and intermediate in their store, listed in a different order. A client
// presents its leaf alone, does a full handshake on replica A and resumes on replica B. B verifies
// the lone leaf with its store's intermediate, but its guards judge only what B remembered for that
// leaf (nothing: chains are remembered per CA bundle, keyed by its bytes, and per process), so the
// "verified chain" is the leaf alone. A fleet's revocation of the intermediate (or root) then neither
// finds the resumed connection (recheckKeys) nor denies it on a full re-decision (invalidatePolicy).
// The same happens on one server once the leaf's entry is evicted (16,384 leaves per trust).
//
// The fix: take a resumed session's verified chain from the verification that admitted it
// (the chain verifyChain built from the store plus remembered extras, anchor included), not from
// the remembered-chains memory, which is a hint and can be empty for a leaf that still verifies.
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type TLSSocket } from '../dist/index.js';
import { kGuardHost, type GuardHost } from '../dist/authz/guard.js';
import { SerialGuard } from './helpers/serial-guard';
import { certs } from './helpers/certs';
import { listen, pemChain, waitFor, SOON } from './helpers/owned';

const [, intermediate] = pemChain(certs.clientChain);
const storeBlocks = certs.caChain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!;

interface Replica {
  server: Server;
  host: GuardHost;
  guard: SerialGuard;
  port: number;
}

async function replica(t: Test, ca: string, ticketKeys: Buffer): Promise<Replica> {
  const guard = new SerialGuard();
  const server = createServer({
    key: certs.serverKey,
    cert: certs.serverChain,
    ca,
    requestCert: true,
    rejectUnauthorized: true,
    ticketKeys,
  });
  const host = (server as unknown as { [kGuardHost]: GuardHost })[kGuardHost];
  host.addGuard(guard);
  return { server, host, guard, port: await listen(t, server) };
}

async function open(t: Test, to: Replica, session?: Buffer): Promise<{ socket: TLSSocket; session: Buffer }> {
  const accepted = waitFor<[TLSSocket]>(to.server, 'secureConnection', SOON);
  const client = connect({
    host: '127.0.0.1',
    port: to.port,
    servername: 'localhost',
    ca: certs.ca,
    key: certs.clientKey,
    cert: certs.clientCert,
    ...(session === undefined ? {} : { session }),
  });
  client.on('error', () => {});
  t.teardown(() => client.destroy());
  const ticket = session === undefined ? waitFor<[Buffer]>(client, 'session', SOON) : null;
  const [socket] = await accepted;
  socket.on('error', () => {});
  return { socket, session: ticket === null ? session! : (await ticket)[0] };
}

t.test("a resumed session verified with the store's intermediate is judged and indexed with it", async (t) => {
  const ticketKeys = randomBytes(80);
  const a = await replica(t, storeBlocks.join('\n'), ticketKeys);
  const b = await replica(t, [...storeBlocks].reverse().join('\n'), ticketKeys);
  const full = await open(t, a);
  const resumed = await open(t, b, full.session);
  t.equal(resumed.socket.isSessionReused(), true, 'the session resumed on the other replica');
  t.equal(resumed.socket.getPeerCertificateChain().length, 1, 'it presents its leaf alone');
  t.ok(
    b.guard.judged.at(-1)!.includes(intermediate!.serialNumber),
    "the resumed connection's decision judged the store intermediate it was verified with",
  );

  b.guard.revoke(intermediate!.serialNumber);
  const found = await b.host.recheckKeys([`serial:${intermediate!.serialNumber}`], 'revocation');
  t.equal(found.length, 1, 'the resumed connection is found under the intermediate serial');
  await b.host.invalidatePolicy();
  t.ok(resumed.socket.destroyed, 'the resumed connection is cut');
});

t.test(
  "one server: once 16,384 other leaves evict this leaf's entry, its resumed session is judged alone",
  async (t) => {
    const ticketKeys = randomBytes(80);
    const only = await replica(t, certs.caChain, ticketKeys);
    const full = await open(t, only);
    // What 16,384 other clients' full handshakes leave behind (each remembers its own verified chain).
    const anchor = pemChain(certs.ca)[0]!.raw;
    for (let i = 0; i < 16_384; i++) {
      only.server.secureContext.rememberVerifiedChain([Buffer.from(`another leaf ${i}`), anchor]);
    }
    const resumed = await open(t, only, full.session);
    t.equal(resumed.socket.isSessionReused(), true, 'the session resumed');
    t.equal(resumed.socket.authorized, true, "it verified with the store's intermediate");
    t.ok(
      only.guard.judged.at(-1)!.includes(intermediate!.serialNumber),
      'its decision judged the store intermediate it was verified with',
    );
  },
);
