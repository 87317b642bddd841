// A resumed session lapses with the whole chain its certificate came with, not with the leaf alone.
// The session (a TLS 1.3 ticket, a TLS 1.2 session) stores the peer's leaf and no intermediates
// (RFC 8446 section 4.6.1, RFC 5077 section 4), and OpenSSL verifies nothing on resumption. Here
// the client's intermediate (its own, not in the server's store) expires a minute before its leaf:
// from the intermediate's notAfter on, no byte may pass either way on fresh or resumed
// connections, node:tls and our own client alike, and every one of them is cut.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import { connect, createSecureContext, createServer, type TLSSocket } from '../dist/index.js';
import { ChainVerifier } from '../dist/authz/chain-verdict.js';
import type { AuthorizationSubject } from '../dist/authz/subject.js';
import { kExchangeVerdict } from '../dist/tls/symbols.js';
import { ModelPki, type Leaf } from './helpers/model/pki';
import { closed, listen, pemChain, waitFor, SOON } from './helpers/owned';

/** The intermediate lives this long (rounded down to a whole second), the leaf a minute. */
const INTERMEDIATE_LIFETIME_MS = 4_000;
const LEAF_LIFETIME_MS = 60_000;
const MARKER_EVERY_MS = 20;
/** A chunk the gate let through just before the horizon may reach a listener a tick later. */
const DELIVERY_SLACK_MS = 50;
/** How long past the horizon a connection may take to be cut on a loaded machine. */
const CUT_WITHIN_MS = 2_000;

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

type Client = TLSSocket | tls.TLSSocket;
type Flavour = 'node:tls' | 'ours';

interface Watched {
  label: string;
  client: Client;
  server: TLSSocket;
  /** Date.now() of each chunk the server's application read (client -> server). */
  serverReads: number[];
  /** Date.now() of each chunk the client read (server -> client). */
  clientReads: number[];
  stop(): void;
}

function open(
  port: number,
  flavour: Flavour,
  version: 'TLSv1.2' | 'TLSv1.3',
  pki: ModelPki,
  leaf: Leaf,
  session?: Buffer,
) {
  const options = {
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: pki.serverRoot.pem,
    key: leaf.key,
    cert: leaf.chain,
    maxVersion: version,
    ...(session === undefined ? {} : { session }),
  };
  const client: Client = flavour === 'ours' ? connect(options) : tls.connect(options);
  client.on('error', () => {});
  return client;
}

/** Writes a marker every few ms both ways and notes when each side's application reads one. */
function watch(label: string, client: Client, server: TLSSocket): Watched {
  const watched: Watched = { label, client, server, serverReads: [], clientReads: [], stop: () => {} };
  server.on('data', () => watched.serverReads.push(Date.now()));
  client.on('data', () => watched.clientReads.push(Date.now()));
  server.on('error', () => {});
  const timer = setInterval(() => {
    if (!client.destroyed && !client.writableEnded) client.write('c');
    if (!server.destroyed && !server.writableEnded) server.write('s');
  }, MARKER_EVERY_MS);
  watched.stop = () => clearInterval(timer);
  return watched;
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  t.test(`${version}: fresh and resumed connections end at the chain's horizon`, async (t) => {
    const pki = await ModelPki.create();
    const leaf = await pki.issue({
      cn: 'alice',
      tenant: 'A',
      viaIntermediate: true,
      lifetimeMs: LEAF_LIFETIME_MS,
      intermediateLifetimeMs: INTERMEDIATE_LIFETIME_MS,
    });
    const horizon = leaf.intermediateNotAfter!;
    const leafNotAfter = Date.parse(new X509Certificate(leaf.cert).validTo);
    t.ok(horizon < leafNotAfter - 30_000, 'the intermediate expires well before the leaf');

    // every: 0: no periodic re-check, so only the decision's own deadline can end a connection.
    const server = createServer({
      key: pki.server.key,
      cert: pki.server.cert,
      ca: pki.caPem(['A']),
      requestCert: true,
      rejectUnauthorized: true,
      maxVersion: version,
      reauthorize: { every: 0 },
    });
    server.on('tlsClientError', () => {});
    const port = await listen(t, server);

    const watched: Watched[] = [];
    t.teardown(() => {
      for (const w of watched) {
        w.stop();
        w.client.destroy();
      }
    });
    const establish = async (flavour: Flavour, session?: Buffer): Promise<{ w: Watched; session: Buffer }> => {
      const accepted = waitFor<[TLSSocket]>(server, 'secureConnection', SOON);
      const client = open(port, flavour, version, pki, leaf, session);
      // A TLS 1.3 ticket arrives after the handshake; a resumed TLS 1.2 session gets none.
      const ticket = session === undefined ? waitFor<[Buffer]>(client, 'session', SOON) : Promise.resolve([session]);
      const secure = waitFor(client, 'secureConnect', SOON);
      const [socket] = await accepted;
      await secure;
      const [next] = await ticket;
      const label = `${flavour} ${session === undefined ? 'fresh' : 'resumed'}`;
      const w = watch(label, client, socket);
      watched.push(w);
      return { w, session: next! };
    };

    for (const flavour of ['node:tls', 'ours'] as const) {
      const first = await establish(flavour);
      const resumed = await establish(flavour, first.session);
      t.equal(first.w.server.isSessionReused(), false, `${flavour}: the first connection is a full handshake`);
      t.equal(resumed.w.server.isSessionReused(), true, `${flavour}: the second one resumed its session`);
    }
    t.ok(Date.now() < horizon - 500, 'every connection was set up well before the horizon');

    for (const w of watched) {
      // What the handshake concluded names the horizon itself, so re-checks reusing it keep to it.
      const exchange = (w.server as unknown as { [kExchangeVerdict]: { notAfter?: number } | null })[kExchangeVerdict];
      t.equal(exchange?.notAfter, horizon, `${w.label}: the handshake's verdict names the chain's horizon`);
      const decision = w.server.decision;
      t.ok(decision?.allow, `${w.label}: allowed`);
      t.ok(
        decision!.expiresAt <= horizon,
        `${w.label}: the decision lapses with the intermediate (${decision!.expiresAt - horizon} ms from it)`,
      );
    }

    // Expiry cuts at the horizon; a connection still open well past it has outlived its chain.
    const cutOrLate = horizon - Date.now() + CUT_WITHIN_MS;
    await Promise.race([Promise.all(watched.map((w) => closed(w.server, SOON + cutOrLate))), delay(cutOrLate)]);
    for (const w of watched) {
      w.stop();
      const late = (reads: number[]): number[] => reads.filter((at) => at >= horizon + DELIVERY_SLACK_MS);
      t.ok(
        w.serverReads.some((at) => at < horizon) && w.clientReads.some((at) => at < horizon),
        `${w.label}: data flowed`,
      );
      t.same(late(w.serverReads), [], `${w.label}: nothing reached the server's application after the horizon`);
      t.same(late(w.clientReads), [], `${w.label}: nothing reached the client after the horizon`);
      t.ok(w.server.destroyed, `${w.label}: cut`);
    }
  });
}

t.test('a verdict that names no horizon is verified again, which yields the horizon of the whole chain', async (t) => {
  const pki = await ModelPki.create();
  const leaf = await pki.issue({
    cn: 'alice',
    tenant: 'A',
    viaIntermediate: true,
    lifetimeMs: LEAF_LIFETIME_MS,
    intermediateLifetimeMs: INTERMEDIATE_LIFETIME_MS,
  });
  const trust = createSecureContext({ ca: pki.caPem(['A']) }, true);
  const [presentedLeaf, intermediate] = pemChain(leaf.chain);
  const [root] = pemChain(pki.caPem(['A']));
  // A full handshake verified leaf + intermediate + root; the resumed session shows the leaf alone.
  trust.rememberVerifiedChain([presentedLeaf!.raw, intermediate!.raw, root!.raw]);
  const subject = {
    trust,
    isServer: true,
    certificateEpoch: 1,
    exchangeVerdict: () => ({ ok: true, trust, generation: trust.trustGeneration, epoch: 1 }),
  };
  const verdict = new ChainVerifier().verdict(subject as unknown as AuthorizationSubject, [presentedLeaf!], Date.now());
  t.equal(verdict.ok, true);
  t.equal(verdict.notAfter, leaf.intermediateNotAfter, "the intermediate's notAfter, not the leaf's");
});
