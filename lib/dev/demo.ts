/**
 * `continuous-tls demo` (npm start): a self-contained live story on loopback.
 *
 *  1. A development CA issues a server certificate and short-lived client
 *     certificates (3 s). A client connects with mTLS and streams messages.
 *  2. Every second the server asks the live client for a fresh certificate
 *     (TLS 1.3 post-handshake auth) while the client rotates to a newly
 *     issued one: each re-authentication must present a new serial.
 *  3. The CA revokes the client's current certificate and the server swaps in
 *     the new CRL: the stream is cut and no byte passes after the swap.
 *  4. A second client whose certificate is valid ~2 s and never rotates is
 *     cut when it expires.
 *  5. With redis-server installed, the fleet act (demo-fleet.ts): three processes
 *     share one revocation feed, and one CAEP event pushed to one of them cuts
 *     a user's streams in all three. Without it, one line says how to get it.
 * Prints a timeline and exits 0 only when every step happened as expected.
 */
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createServer, type Server } from '../server.js';
import { connectDemoClient } from './demo-client.js';
import type { TLSSocket } from '../tls/socket.js';
import { DevelopmentCA, type IssuedIdentity } from './pki.js';
import type { DecisionEvent } from '../authz/authorizer.js';
import { runFleetAct } from './demo-fleet.js';

const ROTATING_VALIDITY_MS = 3_000;
const EXPIRING_VALIDITY_MS = 2_000;
const RECHECK_EVERY_MS = 1_000;
/** notBefore lies this far in the past, for clock skew; lifetimes are counted from now regardless. */
const BACKDATE_MS = 1_000;

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

class Timeline {
  readonly #start = performance.now();
  readonly #quiet: boolean;
  constructor(quiet: boolean) {
    this.#quiet = quiet;
  }
  log(actor: string, message: string): void {
    if (this.#quiet) return;
    const at = (performance.now() - this.#start) / 1000;
    process.stdout.write(`  +${at.toFixed(3).padStart(7)}s  ${actor.padEnd(8)} ${message}\n`);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface DemoOptions {
  /** Print nothing but the outcome. Default false. */
  quiet?: boolean;
}

/** Runs the story; resolves 0 when every step happened as expected (the command line is in cli.ts). */
export async function runDemo(options: DemoOptions = {}): Promise<number> {
  const quiet = options.quiet === true;
  const timeline = new Timeline(quiet);
  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail: string): void => {
    checks.push({ name, ok, detail });
  };

  if (!quiet) process.stdout.write('continuous-tls demo: continuous authorization of a live mTLS stream\n\n');
  const ca = await DevelopmentCA.create({ commonName: 'continuous-tls demo CA' });
  const serverIdentity = await ca.issueServer({ commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] });
  // A lifetime counts from notBefore, so the backdating is added back: a "3-second" certificate has
  // 2-3 s left once X.509's whole seconds round notAfter down. Without it, alice's last certificate
  // could expire before the CA revoked it, and the revocation step read CERT_HAS_EXPIRED.
  const issueClient = (name: string, validityMs: number): Promise<IssuedIdentity> =>
    ca.issueClient({
      commonName: name,
      validityMs: validityMs + BACKDATE_MS,
      notBefore: new Date(Date.now() - BACKDATE_MS),
    });
  timeline.log('ca', 'development CA ready (root -> intermediate), server certificate issued');

  const server = createServer({
    key: serverIdentity.key,
    cert: serverIdentity.chain,
    ca: ca.rootCert,
    crl: await ca.crls({ nextUpdateMs: 60_000 }),
    requestCert: true,
    minVersion: 'TLSv1.3',
    // Only our demo clients, and only for 10 s at a time without a re-check.
    policy: (input) => {
      const cn = /CN=([^\n,]+)/.exec(input.peer.certificate?.subject ?? '')?.[1] ?? '';
      return cn.startsWith('demo-')
        ? { allow: true, reason: `${cn} is a demo client`, ttlMs: 10_000 }
        : { allow: false, reason: `${cn} is unknown` };
    },
    reauthorize: { every: RECHECK_EVERY_MS, fresh: true, onExpiry: true, timeout: 2_000 },
  });
  const decisions: DecisionEvent[] = [];
  server.on('decision', (event: DecisionEvent) => {
    decisions.push(event);
    const serial = event.serial === undefined ? '' : ` serial ${event.serial.slice(0, 8)}`;
    const cn = event.subject ?? '-';
    timeline.log(
      'server',
      `${event.outcome.toUpperCase().padEnd(5)} ${event.trigger.padEnd(10)} ${cn}${serial}  ${event.reason}  ` +
        `(${event.durationMs.toFixed(2)} ms)`,
    );
  });
  const bytesAfterCut = { counting: false, bytes: 0 };
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.on('data', (chunk: Buffer) => {
      if (bytesAfterCut.counting) bytesAfterCut.bytes += chunk.length;
      socket.write(chunk);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  timeline.log('server', `listening on 127.0.0.1:${port}, fresh re-authentication every ${RECHECK_EVERY_MS} ms`);

  try {
    await rotatingClientStory(server, port, ca, issueClient, timeline, check, decisions, bytesAfterCut);
    await expiringClientStory(port, ca, issueClient, timeline, check);
  } finally {
    server.close();
    for (const socket of server.connections()) socket.destroy();
  }
  await runFleetAct({ quiet, check });

  if (!quiet) process.stdout.write('\nWhat happened:\n');
  for (const item of checks) {
    if (!quiet || !item.ok) process.stdout.write(`  ${item.ok ? 'ok  ' : 'FAIL'}  ${item.name}: ${item.detail}\n`);
  }
  const failed = checks.filter((item) => !item.ok).length;
  process.stdout.write(
    failed === 0 ? '\ndemo completed as expected\n' : `\ndemo FAILED: ${failed} step(s) did not happen as expected\n`,
  );
  return failed === 0 ? 0 : 1;
}

async function rotatingClientStory(
  server: Server,
  port: number,
  ca: DevelopmentCA,
  issueClient: (name: string, validityMs: number) => Promise<IssuedIdentity>,
  timeline: Timeline,
  check: (name: string, ok: boolean, detail: string) => void,
  decisions: DecisionEvent[],
  bytesAfterCut: { counting: boolean; bytes: number },
): Promise<void> {
  let identity = await issueClient('demo-alice', ROTATING_VALIDITY_MS);
  const connectStart = performance.now();
  const client = await connectDemoClient(port, ca, identity, 'the demo client');
  timeline.log(
    'alice',
    `connected (${client.getProtocol()}, mTLS) in ${(performance.now() - connectStart).toFixed(1)} ms, ` +
      `serial ${identity.serial.slice(0, 8)}`,
  );

  let echoed = 0;
  let sent = 0;
  const roundTrips: number[] = [];
  const inFlight: number[] = [];
  client.on('data', (chunk: Buffer) => {
    echoed += chunk.length;
    const startedAt = inFlight.shift();
    if (startedAt !== undefined) roundTrips.push(performance.now() - startedAt);
  });
  const streamer = setInterval(() => {
    if (client.destroyed) return;
    inFlight.push(performance.now());
    client.write(`message ${sent}\n`);
    sent++;
  }, 50);

  // Rotate half-way between the server's re-checks, so each check sees a new certificate.
  await sleep(RECHECK_EVERY_MS / 2);
  const serials = new Set<string>([identity.serial]);
  for (let round = 0; round < 3; round++) {
    identity = await issueClient('demo-alice', ROTATING_VALIDITY_MS);
    client.setIdentity({ key: identity.key, cert: identity.chain });
    serials.add(identity.serial);
    timeline.log('alice', `rotated to a fresh short-lived certificate, serial ${identity.serial.slice(0, 8)}`);
    await sleep(RECHECK_EVERY_MS);
  }
  // With fresh: true both the periodic and the at-expiry re-checks ask the client for a new certificate.
  const fresh = decisions.filter(
    (event) =>
      (event.trigger === 'interval' || event.trigger === 'expiry') &&
      event.outcome === 'allow' &&
      event.subject?.includes('demo-alice'),
  );
  const freshSerials = new Set(fresh.map((event) => event.serial));
  const latencies = fresh.map((event) => event.durationMs).sort((a, b) => a - b);
  check(
    'fresh re-authentication with rotating certificates',
    fresh.length >= 3 && freshSerials.size >= 3,
    `${fresh.length} re-authentications presented ${freshSerials.size} different serials; ` +
      `median ${median(latencies).toFixed(2)} ms`,
  );
  const sortedTrips = [...roundTrips].sort((a, b) => a - b);
  check(
    'stream kept flowing during re-authentication',
    echoed > 0 && roundTrips.length > 10,
    `${roundTrips.length} echoes, median round trip ${median(sortedTrips).toFixed(2)} ms`,
  );

  // Revoke the certificate in use right now and publish a new CRL.
  ca.revoke(identity.serial);
  const crl = await ca.crls({ nextUpdateMs: 60_000 });
  timeline.log('ca', `revoked serial ${identity.serial.slice(0, 8)} and published a new CRL`);
  const closed = new Promise<number>((resolve) => client.once('close', () => resolve(performance.now())));
  const swapAt = performance.now();
  await server.setCrl(crl);
  bytesAfterCut.counting = true;
  const closedAt = await Promise.race([closed, sleep(2_000).then(() => -1)]);
  clearInterval(streamer);
  await sleep(200);
  timeline.log(
    'alice',
    closedAt < 0
      ? 'still connected (unexpected)'
      : `stream cut ${(closedAt - swapAt).toFixed(1)} ms after the CRL swap`,
  );
  check(
    'revocation cuts the live stream',
    closedAt >= 0,
    closedAt < 0 ? 'the connection stayed open' : `cut ${(closedAt - swapAt).toFixed(1)} ms after setCrl()`,
  );
  check(
    'no byte passes after the CRL swap',
    bytesAfterCut.bytes === 0,
    `${bytesAfterCut.bytes} bytes delivered to the server app after setCrl() resolved`,
  );
  check(
    'server holds no connection for the revoked client',
    server.connections().length === 0,
    `${server.connections().length} live connections`,
  );
  check('the client rotated its certificate', serials.size >= 4, `${serials.size} certificates issued to demo-alice`);
}

async function expiringClientStory(
  port: number,
  ca: DevelopmentCA,
  issueClient: (name: string, validityMs: number) => Promise<IssuedIdentity>,
  timeline: Timeline,
  check: (name: string, ok: boolean, detail: string) => void,
): Promise<void> {
  const identity = await issueClient('demo-bob', EXPIRING_VALIDITY_MS);
  const notAfter = identity.notAfter.getTime();
  const client = await connectDemoClient(port, ca, identity, 'the expiring client');
  timeline.log(
    'bob',
    `connected with a certificate valid until ${identity.notAfter.toISOString().slice(11, 23)} ` +
      `(${Math.round(notAfter - Date.now())} ms left), never rotated`,
  );
  const closedAt = await new Promise<number>((resolve) => {
    const timer = setTimeout(() => resolve(-1), notAfter - Date.now() + 3_000);
    client.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now());
    });
  });
  const lateness = closedAt - notAfter;
  timeline.log(
    'bob',
    closedAt < 0 ? 'still connected after expiry (unexpected)' : `cut ${lateness} ms after the certificate expired`,
  );
  check(
    'an expiring certificate is cut at expiry',
    closedAt >= 0 && lateness >= 0 && lateness < 1_500,
    closedAt < 0 ? 'not cut' : `cut ${lateness} ms after notAfter`,
  );
}

function median(sorted: number[]): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.floor(sorted.length / 2)]!;
}
